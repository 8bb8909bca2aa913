"""Running the training recipe's stages for ``xemogpt demo``, ``xemogpt ablate`` and ``xemogpt rl-study``: their
shared settings (:class:`RecipeRunConfig`, :class:`SeedStudyConfig`), synthetic data, untrained base checkpoints, and
stage runs through the stages' own ``main(argv)`` that are skipped when already finished.

Every step leaves a marker file next to its outputs once it is complete, so rerunning the command that was
interrupted continues where it stopped and never redoes (or overwrites) finished work unless ``force`` is set.
"""

from __future__ import annotations

import importlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training" / "configs"
TINY_STAGES = {  # stage -> (module whose main(argv) runs it, its tiny config in CONFIGS)
    "stage1": ("training.stage1_vecb", "stage1_tiny.yaml"),
    "stage2": ("training.stage2_aecb", "stage2_tiny.yaml"),
    "stage3": ("training.stage3_sft", "stage3_tiny.yaml"),
    "stage4": ("training.stage4_grpo", "stage4_tiny.yaml"),
}


@dataclass
class RecipeRunConfig:
    """What every run of the recipe on synthetic clips sets (demo, ablate, rl-study): the data sizes, the steps of
    stages 1-3, data workers, ``force`` (redo finished steps) and extra command-line overrides per stage."""

    n_train: int = 480
    n_heldout: int = 40
    stage1_steps: int = 150
    stage2_steps: int = 100
    stage3_steps: int = 500
    workers: int | None = None
    force: bool = False
    stage_overrides: dict = field(default_factory=dict)  # {"stage1": [...argv], ...}: extra overrides per stage

    AT_LEAST_ONE = ("n_train", "n_heldout", "stage1_steps", "stage2_steps", "stage3_steps")  # not a field
    MIN_HELDOUT = 1

    def __post_init__(self):
        for name in self.AT_LEAST_ONE:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if self.n_heldout < self.MIN_HELDOUT:
            raise ValueError(f"--n-heldout must be at least {self.MIN_HELDOUT}")


@dataclass
class SeedStudyConfig(RecipeRunConfig):
    """A study over several training seeds on one synthetic data set (ablate, rl-study): its held-out clips are
    described greedily and scored (mean ± std over seeds need two held-out clips at least)."""

    seeds: tuple = (0, 1, 2)
    data_seed: int = 0
    max_new_tokens: int = 160
    describe_batch_size: int = 20

    AT_LEAST_ONE = (*RecipeRunConfig.AT_LEAST_ONE, "max_new_tokens")
    MIN_HELDOUT = 2

    def __post_init__(self):
        if len(self.seeds) < 1:
            raise ValueError("give at least one seed")
        super().__post_init__()


def banner(i: int, total: int, name: str, text: str) -> float:
    line = f"[{i}/{total}] {name}: {text}"
    print("\n" + "=" * len(line) + "\n" + line + "\n" + "=" * len(line), flush=True)
    return time.perf_counter()


def is_done(marker: Path, force: bool = False) -> bool:
    return marker.is_file() and not force


def mark_done(marker: Path, info: dict) -> None:
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(info, indent=2, default=str) + "\n")


def wall_times(out: Path, seconds: float, force: bool = False) -> dict:
    """This invocation's wall time and the sum over every invocation that worked in ``out``.

    A study interrupted and rerun finishes in a short last invocation; its tables report both (``wall_time_s``: this
    one, ``wall_time_total_s``: all of them, listed in ``out/wall_times.json``). ``force`` (everything redone)
    starts the list afresh.
    """
    path = out / "wall_times.json"
    times = [] if force or not path.is_file() else json.loads(path.read_text())
    times.append(round(seconds, 3))
    path.write_text(json.dumps(times))
    return {"wall_time_s": seconds, "wall_time_total_s": sum(times), "invocations": len(times)}


def wall_time_line(tables: dict) -> str:
    minutes = tables["wall_time_s"] / 60
    if tables["invocations"] == 1:
        return f"{minutes:.1f} min"
    return f"{minutes:.1f} min ({tables['wall_time_total_s'] / 60:.1f} min over {tables['invocations']} invocations)"


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


def study_run(cfg: SeedStudyConfig, seed: int, name: str, out_dir: Path, steps: int, extra: list[str],
              label: str, lr: float | None = None, base: Path | None = None, stage: str | None = None) -> tuple:
    """One run of ``stage`` (default ``name``) for ``seed`` of a seed study, from ``base`` (default: the seed's
    untrained base) on the study's data and feature cache, with no intermediate checkpoints; ``extra`` and
    ``cfg.stage_overrides[name]`` are added to its overrides. Returned as ``(label, module, config, argv, out_dir)``
    for :func:`run_stage` or :func:`run_stages_parallel`."""
    module, config = TINY_STAGES[stage or name]
    base = base or cfg.out / f"seed{seed}" / "untrained"
    argv = stage_argv(base, cfg.out / "data", cfg.out / "feature_cache", out_dir, steps, lr=lr, seed=seed)
    argv += ["--training.save_strategy", "no", *extra, *cfg.stage_overrides.get(name, [])]
    return label, module, config, argv, out_dir


def study_stage(cfg: SeedStudyConfig, *args, **kwargs) -> dict:
    """:func:`study_run` run in this process (skipped when already finished)."""
    label, module, config, argv, out_dir = study_run(cfg, *args, **kwargs)
    return run_stage(label, module, config, argv, out_dir, cfg.force)


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
