"""Stage 1 tiny under `accelerate launch --num_processes 2` on CPU (DDP over gloo): both ranks end with identical
bridge weights, and rank 0 writes the outputs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_two_process_cpu_stage1(tmp_path):
    from training.data.synthetic import make_synthetic

    make_synthetic(tmp_path / "syn", 24, seed=5, modality_mix=(0.5, 0.5, 0.0), workers=1)
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--config_file", str(ROOT / "training/configs/accelerate/cpu_2proc.yaml"),
           "--num_processes", "2", "--main_process_port", "29517",
           str(ROOT / "training/stage1_vecb.py"), "--config", str(ROOT / "training/configs/stage1_tiny.yaml"),
           "--train_file", str(tmp_path / "syn" / "emocue.jsonl"), "--eval_file", "null",
           "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(out), "--max_steps", "4",
           "--per_device_train_batch_size", "4", "--save_steps", "2", "--logging_steps", "1", "--disable_tqdm", "true"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("ACCELERATE_USE_CPU", None)  # the script sets it itself when there is no GPU
    res = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    fp0 = (out / "weights_fingerprint_rank0.txt").read_text().strip()
    fp1 = (out / "weights_fingerprint_rank1.txt").read_text().strip()
    assert fp0 == fp1 and len(fp0) == 64
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_step"] == 4 and metrics["weights_fingerprint"] == fp0
    # the two ranks shared the extraction: every training clip is in the cache once
    entries = [p for p in (tmp_path / "cache").rglob("*.safetensors") if "video" in p.parent.parent.name]
    videos = [json.loads(line) for line in open(tmp_path / "syn" / "emocue.jsonl")]
    assert len(entries) == sum(1 for r in videos if r["video"])
