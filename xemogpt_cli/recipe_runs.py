"""Running the training recipe's stages for ``xemogpt demo`` and ``xemogpt ablate``: synthetic data, untrained base
checkpoints, and stage runs through the stages' own ``main(argv)`` that are skipped when already finished.

Every step leaves a marker file next to its outputs once it is complete, so rerunning the command that was
interrupted continues where it stopped and never redoes (or overwrites) finished work unless ``force`` is set.
"""

from __future__ import annotations

import importlib
import json
import shutil
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training" / "configs"


def banner(i: int, total: int, name: str, text: str) -> float:
    line = f"[{i}/{total}] {name}: {text}"
    print("\n" + "=" * len(line) + "\n" + line + "\n" + "=" * len(line), flush=True)
    return time.perf_counter()


def is_done(marker: Path, force: bool = False) -> bool:
    return marker.is_file() and not force


def mark_done(marker: Path, info: dict) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(info, indent=2, default=str) + "\n")


def make_data(out: Path, n_train: int, n_heldout: int, seed: int, workers: int | None = None,
              force: bool = False) -> dict:
    """Synthetic EmoCue clips in ``out/train`` (``seed``) and ``out/heldout`` (``seed + 1000``: other clips)."""
    from training.data.synthetic import make_synthetic

    info = {}
    for split, n, split_seed in (("train", n_train, seed), ("heldout", n_heldout, seed + 1000)):
        folder = out / split
        marker = folder / "DONE.json"
        if is_done(marker, force) and json.loads(marker.read_text()).get("n") == n:
            print(f"  {split}: {n} clips already in {folder} (skipped)")
            info[split] = json.loads(marker.read_text())
            continue
        t = time.perf_counter()
        ds = make_synthetic(folder, n, split_seed, workers=workers)
        dt = time.perf_counter() - t
        print(f"  {split}: {len(ds)} clips in {dt:.1f} s ({len(ds) / max(dt, 1e-9):.1f} clips/s) -> {folder}")
        info[split] = {"n": len(ds), "seconds": dt, "seed": split_seed}
        mark_done(marker, info[split])
    return info


def tiny_config_overrides() -> dict:
    """``model.config_overrides`` of the tiny stage configs (they agree), so a base model matches the stages."""
    import yaml

    found = {}
    for name in ("stage1_tiny.yaml", "stage2_tiny.yaml", "stage3_tiny.yaml"):
        data = yaml.safe_load((CONFIGS / name).read_text()) or {}
        found.update((data.get("model") or {}).get("config_overrides") or {})
    return found


def save_base(folder: Path, seed: int, towers_seed: int | None = None, force: bool = False) -> Path:
    """The untrained tiny preset (the stages' config overrides), saved with its processor as a remote-code
    checkpoint. Its random weights come from ``seed``; with ``towers_seed`` the frozen CLIP/HuBERT towers come from
    that seed instead, so bases of several seeds share their "pretrained" encoders (and their cached features)."""
    if is_done(folder / "DONE.json", force):
        print(f"  tiny preset already saved in {folder} (skipped)")
        return folder
    import torch

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor

    config = XEmoGPTConfig.from_preset("tiny", **tiny_config_overrides())
    torch.manual_seed(seed)
    model = XEmoGPTForConditionalGeneration(config)
    if towers_seed is not None and towers_seed != seed:
        torch.manual_seed(towers_seed)
        reference = XEmoGPTForConditionalGeneration(config)
        model.vision_tower.load_state_dict(reference.vision_tower.state_dict())
        model.audio_tower.load_state_dict(reference.audio_tower.state_dict())
    model.save_pretrained(folder)
    XEmoGPTProcessor.from_preset("tiny").save_pretrained(folder)
    n = sum(p.numel() for p in model.parameters())
    print(f"  tiny preset (seed {seed}, towers of seed {towers_seed if towers_seed is not None else seed}): "
          f"{n / 1e6:.2f} M parameters, saved with remote code in {folder}")
    mark_done(folder / "DONE.json", {"parameters": n, "seed": seed, "towers_seed": towers_seed})
    return folder


def stage_argv(base: Path, data: Path, cache: Path, out_dir: Path, steps: int, lr: float | None = None,
               batch: int | None = None, seed: int | None = None) -> list[str]:
    """Command-line overrides of a tiny stage config for a run on ``data/train`` with ``data/heldout`` held out."""
    tuned = []
    if lr is not None:
        tuned += ["--training.learning_rate", str(lr)]
    if batch is not None:
        tuned += ["--training.per_device_train_batch_size", str(batch)]
    if seed is not None:
        tuned += ["--training.seed", str(seed)]
    return tuned + [
        "--model.base_model", str(base),
        "--data.train", str(data / "train" / "emocue.jsonl"),
        "--data.eval", str(data / "heldout" / "emocue.jsonl"),
        "--cache.dir", str(cache),
        "--training.output_dir", str(out_dir),
        "--training.max_steps", str(steps),
        "--training.save_steps", str(max(steps, 1)),
        "--training.logging_steps", str(max(1, steps // 30)),
        "--training.disable_tqdm", "false",
    ]


def _finished(label: str, out_dir: Path, force: bool) -> dict | None:
    """The figures of a finished run in ``out_dir`` (None: run it; with ``force`` its folder is cleared first)."""
    if is_done(out_dir / "RUN_DONE", force) and (out_dir / "metrics.json").is_file():
        print(f"  {label} already trained in {out_dir} (skipped)")
        return json.loads((out_dir / "metrics.json").read_text())
    if force and out_dir.exists():
        shutil.rmtree(out_dir)
    return None


def run_stage(label: str, module: str, config: str, argv: list[str], out_dir: Path, force: bool = False) -> dict:
    """``module.main(["--config", CONFIGS/config, *argv])`` unless ``out_dir`` holds a finished run of it."""
    done = _finished(label, out_dir, force)
    if done is not None:
        return done
    marker = out_dir / "RUN_DONE"
    argv = ["--config", str(CONFIGS / config), *argv]
    print(f"  python -m {module} " + " ".join(argv), flush=True)
    figures = importlib.import_module(module).main(argv)
    marker.write_text("ok\n")
    return figures if isinstance(figures, dict) else json.loads((out_dir / "metrics.json").read_text())


def run_stages_parallel(runs: list[tuple], jobs: int, force: bool = False) -> list[dict]:
    """Several stage runs ``(label, module, config, argv, out_dir)`` side by side, at most ``jobs`` at once, each in
    its own ``python -m module`` process with one compute thread (the tiny stages are fastest on one thread, so two
    runs use two cores); each run's output goes to ``out_dir/train.log``. Finished runs are skipped. Returns each
    run's figures, in order; a failed run stops with a line naming its log."""
    import os
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)  # this checkout's packages
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "TOKENIZERS_PARALLELISM": "false"}

    def one(run: tuple) -> dict:
        label, module, config, argv, out_dir = run
        done = _finished(label, out_dir, force)
        if done is not None:
            return done
        out_dir.mkdir(parents=True, exist_ok=True)
        log = out_dir / "train.log"
        t = time.perf_counter()
        print(f"  {label}: python -m {module} (log: {log})", flush=True)
        with open(log, "w") as fh:
            code = subprocess.call([sys.executable, "-m", module, "--config", str(CONFIGS / config), *argv,
                                    "--runtime.torch_threads", "1", "--training.disable_tqdm", "true"],
                                   stdout=fh, stderr=subprocess.STDOUT, env=env)
        if code != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"{label} failed (exit {code}); see {log}: {tail[0]}")
        (out_dir / "RUN_DONE").write_text("ok\n")
        print(f"  {label}: finished in {time.perf_counter() - t:.0f} s", flush=True)
        return json.loads((out_dir / "metrics.json").read_text())

    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        return list(pool.map(one, runs))
