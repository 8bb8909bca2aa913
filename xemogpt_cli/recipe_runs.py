"""Running the training recipe's stages for ``xemogpt demo``, ``xemogpt ablate`` and ``xemogpt rl-study``: their
shared settings (:class:`RecipeRunConfig`, :class:`SeedStudyConfig`), synthetic data, untrained base checkpoints, and
stage runs: each stage's config (``Stage1Config`` … ``Stage4Config``: its tiny YAML file plus the run's overrides)
handed to the stage's own ``run(config)``, in this process or in worker processes side by side, skipped when already
finished.

Every step leaves a marker file next to its outputs once it is complete, so rerunning the command that was
interrupted continues where it stopped and never redoes (or overwrites) finished work unless ``force`` is set.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training" / "configs"
TINY_STAGES = {  # stage -> (module whose run(config) runs it, its config class there, its tiny config in CONFIGS)
    "stage1": ("training.stage1_vecb", "Stage1Config", "stage1_tiny.yaml"),
    "stage2": ("training.stage2_aecb", "Stage2Config", "stage2_tiny.yaml"),
    "stage3": ("training.stage3_sft", "Stage3Config", "stage3_tiny.yaml"),
    "stage4": ("training.stage4_grpo", "Stage4Config", "stage4_tiny.yaml"),
}


@dataclass
class RecipeRunConfig:
    """What every run of the recipe on synthetic clips sets (demo, ablate, rl-study): the data sizes, the steps of
    stages 1-3, data workers, ``force`` (redo finished steps) and extra config settings per run name
    (``stage_overrides``: ``{"stage3": {"learning_rate": 1e-3}}``)."""

    n_train: int = 480
    n_heldout: int = 40
    stage1_steps: int = 150
    stage2_steps: int = 100
    stage3_steps: int = 500
    workers: int | None = None
    force: bool = False
    stage_overrides: dict = field(default_factory=dict)  # {"stage1": {field: value}, ...}: extra settings per run

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
    """``config_overrides`` of the tiny stage configs (they agree), so a base model matches the stages."""
    from training.config_utils import read_config_file

    found = {}
    for name in ("stage1_tiny.yaml", "stage2_tiny.yaml", "stage3_tiny.yaml"):
        found.update(read_config_file(CONFIGS / name).get("config_overrides") or {})
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


@dataclass
class StageRun:
    """One stage run of a recipe: its ``label`` (for the log), ``stage`` (a key of :data:`TINY_STAGES`) and
    ``config`` (that stage's config object, whose ``output_dir`` holds the run)."""

    label: str
    stage: str
    config: object

    @property
    def out_dir(self) -> Path:
        return Path(self.config.output_dir)


def stage_config(stage: str, overrides: dict):
    """The config of ``stage``: its tiny YAML file, then ``overrides`` (field -> value; checked key by key)."""
    from training.config_utils import build_config

    module, name, config_file = TINY_STAGES[stage]
    return build_config(getattr(importlib.import_module(module), name), overrides, config_file=CONFIGS / config_file,
                        where=f"{stage} settings")


def stage_settings(base: Path, data: Path, cache: Path, out_dir: Path, steps: int, lr: float | None = None,
                   batch: int | None = None, seed: int | None = None) -> dict:
    """Settings of a tiny stage run on ``data/train`` with ``data/heldout`` held out, over the stage's tiny YAML."""
    tuned = {k: v for k, v in (("learning_rate", lr), ("per_device_train_batch_size", batch), ("seed", seed))
             if v is not None}
    return {**tuned, "base_model": str(base), "train_file": str(data / "train" / "emocue.jsonl"),
            "eval_file": str(data / "heldout" / "emocue.jsonl"), "cache_dir": str(cache), "output_dir": str(out_dir),
            "max_steps": steps, "save_steps": max(steps, 1), "logging_steps": max(1, steps // 30),
            "disable_tqdm": False}


def study_run(cfg: SeedStudyConfig, seed: int, name: str, out_dir: Path, steps: int, extra: dict,
              label: str, lr: float | None = None, base: Path | None = None, stage: str | None = None) -> StageRun:
    """One run of ``stage`` (default ``name``) for ``seed`` of a seed study, from ``base`` (default: the seed's
    untrained base) on the study's data and feature cache, with no intermediate checkpoints; ``extra`` and
    ``cfg.stage_overrides[name]`` are added to its settings. For :func:`run_stage` or :func:`run_stages_parallel`."""
    base = base or cfg.out / f"seed{seed}" / "untrained"
    settings = stage_settings(base, cfg.out / "data", cfg.out / "feature_cache", out_dir, steps, lr=lr, seed=seed)
    settings.update(save_strategy="no", **extra, **cfg.stage_overrides.get(name, {}))
    return StageRun(label, stage or name, stage_config(stage or name, settings))


def study_stage(cfg: SeedStudyConfig, *args, **kwargs) -> dict:
    """:func:`study_run` run in this process (skipped when already finished)."""
    return run_stage(study_run(cfg, *args, **kwargs), cfg.force)


def _finished(label: str, out_dir: Path, force: bool) -> dict | None:
    """The figures of a finished run in ``out_dir`` (None: run it; with ``force`` its folder is cleared first)."""
    if is_done(out_dir / "RUN_DONE", force) and (out_dir / "metrics.json").is_file():
        print(f"  {label} already trained in {out_dir} (skipped)")
        return json.loads((out_dir / "metrics.json").read_text())
    if force and out_dir.exists():
        shutil.rmtree(out_dir)
    return None


def run_stage(run: StageRun, force: bool = False) -> dict:
    """``run(config)`` of the run's stage in this process, unless its ``out_dir`` holds a finished run of it."""
    done = _finished(run.label, run.out_dir, force)
    if done is not None:
        return done
    module = TINY_STAGES[run.stage][0]
    print(f"  {run.label}: {module}.run({type(run.config).__name__}) -> {run.out_dir}", flush=True)
    figures = importlib.import_module(module).run(run.config)
    (run.out_dir / "RUN_DONE").write_text("ok\n")
    return figures


def _worker(module: str, config, log: str) -> None:
    """A worker process: ``module.run(config)`` with its output (Python's and the libraries') in ``log``."""
    import sys
    import traceback

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    with open(log, "w") as fh:
        os.dup2(fh.fileno(), 1)
        os.dup2(fh.fileno(), 2)
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)
        try:
            importlib.import_module(module).run(config)
        except BaseException:
            traceback.print_exc()
            sys.stdout.flush()
            os._exit(1)
    sys.stdout.flush()


def run_stages_parallel(runs: list[StageRun], jobs: int, force: bool = False) -> list[dict]:
    """Several stage runs side by side, at most ``jobs`` at once, each ``run(config)`` in a worker process of its own
    (the config object is handed over pickled) with one compute thread (the tiny stages are fastest on one thread,
    so two runs use two cores); each run's output goes to ``out_dir/train.log``. Finished runs are skipped. Returns
    each run's figures, in order; a failed run stops with a line naming its log."""
    import multiprocessing
    from concurrent.futures import ThreadPoolExecutor

    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch / thread state

    def one(run: StageRun) -> dict:
        done = _finished(run.label, run.out_dir, force)
        if done is not None:
            return done
        run.out_dir.mkdir(parents=True, exist_ok=True)
        log = run.out_dir / "train.log"
        t = time.perf_counter()
        print(f"  {run.label}: {TINY_STAGES[run.stage][0]}.run in a worker process (log: {log})", flush=True)
        config = run.config
        config.torch_threads, config.disable_tqdm = 1, True
        process = spawn.Process(target=_worker, args=(TINY_STAGES[run.stage][0], config, str(log)))
        process.start()
        process.join()
        if process.exitcode != 0:
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
            raise RuntimeError(f"{run.label} failed (exit {process.exitcode}); see {log}: {tail[0]}")
        (run.out_dir / "RUN_DONE").write_text("ok\n")
        print(f"  {run.label}: finished in {time.perf_counter() - t:.0f} s", flush=True)
        return json.loads((run.out_dir / "metrics.json").read_text())

    with ThreadPoolExecutor(max_workers=max(1, int(jobs))) as pool:
        return list(pool.map(one, runs))
