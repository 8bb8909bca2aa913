"""`accelerate launch --num_processes 2 -m xemogpt_cli describe ...` on CPU: the clips are split between the two
processes, killed (SIGKILL to the launcher and its workers) once both have written some lines, relaunched, and the merged
predictions file equals a one-process run line for line (input order, each id once)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xemogpt_cli.main import main

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import torch

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor
    from training.data.synthetic import make_synthetic

    d = tmp_path_factory.mktemp("sharded")
    make_synthetic(d / "syn", 12, seed=4, workers=1)
    torch.manual_seed(1)
    model = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", text_config={"initializer_range": 0.5}))
    model.save_pretrained(d / "ckpt")
    XEmoGPTProcessor.from_preset("tiny").save_pretrained(d / "ckpt")
    return d


def launch(d: Path, out: Path) -> subprocess.Popen:
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--config_file", str(ROOT / "training/configs/accelerate/cpu_2proc.yaml"),
           "--num_processes", "2", "--main_process_port", str(free_port()), "-m", "xemogpt_cli", "describe",
           str(d / "syn" / "emocue.jsonl"), "--model", str(d / "ckpt"), "--out", str(out), "--batch-size", "1",
           "--max-new-tokens", "48", "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1",
           "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    env.pop("ACCELERATE_USE_CPU", None)
    return subprocess.Popen(cmd, cwd=d, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the launcher and every process it started (torchrun puts its workers in sessions of their own, so
    killing the launcher's process group alone would leave them running)."""
    import psutil

    family = psutil.Process(proc.pid).children(recursive=True)
    for p in family:
        p.send_signal(signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    psutil.wait_procs(family, timeout=30)


def lines_in(folder: Path) -> dict[str, int]:
    return {p.name: len(p.read_text().splitlines()) for p in folder.glob("*.jsonl")} if folder.is_dir() else {}


def test_two_processes_killed_and_resumed(setup, capsys):
    d = setup
    out = d / "sharded.jsonl"
    parts = d / "sharded.jsonl.parts"
    proc = launch(d, out)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        written = lines_in(parts)
        if len(written) == 2 and all(n >= 1 for n in written.values()):
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed: " + proc.communicate()[1][-2000:]
    kill_tree(proc)
    killed_at = lines_in(parts)
    done_before = sum(killed_at.values())
    assert 2 <= done_before < 12 and not out.exists(), killed_at  # each process had written its first lines

    proc = launch(d, out)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert not parts.exists()  # merged into the final file
    assert f", {done_before} already done" in err, err[-1500:]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    info = json.loads((d / "sharded.run.json").read_text())
    assert info["num_processes"] == 2 and info["figures"]["skipped_done"] == done_before
    assert info["model_class"].startswith("transformers_modules.")  # loaded as remote code

    # one plain process on the same input: the same predictions, line for line
    assert main(["describe", str(d / "syn" / "emocue.jsonl"), "--model", str(d / "ckpt"), "--out",
                 str(d / "single.jsonl"), "--batch-size", "4", "--max-new-tokens", "48", "--no-progress"]) == 0
    capsys.readouterr()
    single = [json.loads(line) for line in (d / "single.jsonl").read_text().splitlines()]
    ids = [json.loads(line)["id"] for line in (d / "syn" / "emocue.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ids == [r["id"] for r in single]
    assert [r["explanation"] for r in rows] == [r["explanation"] for r in single]
    assert all(r["error"] is None for r in rows)
