"""What every stage run shares around the Trainer: processes, threads, resuming, callbacks and the end-of-run summary."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import torch

from .config_utils import ConfigError

logger = logging.getLogger("xemogpt.training")


def apply_runtime(cfg) -> None:
    """``torch_threads``: intra-op threads of torch (None = torch's default). Tiny models on a busy or small CPU run
    faster with 1 (their ops are too small to split, and extra threads oversubscribe the cores)."""
    if cfg.torch_threads:
        torch.set_num_threads(int(cfg.torch_threads))


# ------------------------------------------------------------------------------------------------ processes
def rank_info():
    """``(state, rank, world_size)`` of this process (``accelerate launch`` or a plain ``python``)."""
    from accelerate import PartialState

    from .engines import cpu_launch_backend

    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    # several processes without GPUs (accelerate launch --num_processes N on a CPU machine): DDP or DeepSpeed over gloo
    backend = cpu_launch_backend(world)
    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    state = PartialState(cpu=cpu, **({"backend": backend} if backend else {}))
    return state, state.process_index, state.num_processes


def print_main(state, *args) -> None:
    if state.is_main_process:
        print(*args, flush=True)


# ------------------------------------------------------------------------------------------------ resuming
def resolve_resume(resume: Any, output_dir: str) -> str | None:
    """``None``/``false`` → None; ``auto``/``true`` → the latest complete ``checkpoint-*`` in ``output_dir`` (None if
    none); a path → that path (must exist)."""
    if resume in (None, False, "", "none", "None"):
        return None
    if resume is True or str(resume).lower() in ("auto", "true", "latest"):
        return latest_checkpoint(output_dir)
    if not os.path.isdir(str(resume)):
        raise ConfigError(f"resume_from_checkpoint {str(resume)!r} does not exist")
    return str(resume)


def latest_checkpoint(output_dir: str) -> str | None:
    """The newest *complete* ``checkpoint-N`` of ``output_dir``: Trainer writes ``trainer_state.json`` last, so a
    folder without it is what a kill in the middle of a save leaves behind."""
    if not os.path.isdir(output_dir):
        return None
    found = []
    for name in os.listdir(output_dir):
        m = re.fullmatch(r"checkpoint-(\d+)", name)
        if m and os.path.isfile(os.path.join(output_dir, name, "trainer_state.json")):
            found.append((int(m.group(1)), os.path.join(output_dir, name)))
    return max(found)[1] if found else None


# ------------------------------------------------------------------------------------------------ callbacks
def make_callbacks(output_dir: str, sleep_per_step: float = 0.0) -> list:
    """The loss-history writer, plus a pause after each step with ``sleep_per_step`` (debugging)."""
    from transformers import TrainerCallback

    from .metrics import loss_history, write_json

    class LossHistoryCallback(TrainerCallback):
        """Writes ``loss_history.json`` (every logged loss, with sub-losses) in the output folder at each log."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero:
                write_json(Path(output_dir) / "loss_history.json", loss_history(state.log_history))

    class SleepCallback(TrainerCallback):
        def __init__(self, seconds):
            self.seconds = seconds

        def on_step_end(self, args, state, control, **kwargs):
            time.sleep(self.seconds)

    callbacks = [LossHistoryCallback()]
    sleep = float(sleep_per_step or 0)
    if sleep > 0:
        callbacks.append(SleepCallback(sleep))
    return callbacks


# ------------------------------------------------------------------------------------------------ end of run
def weights_hash(module: torch.nn.Module) -> str:
    """SHA-256 of every tensor of ``module`` (names and values): equal on every rank after a DDP run."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def write_run_summary(output_dir: str, figures: dict, trainer=None) -> dict:
    """Write ``metrics.json`` (and ``loss_history.json`` from the trainer's log) in ``output_dir``."""
    from .metrics import loss_history, write_json

    out = dict(figures)
    if trainer is not None:
        write_json(Path(output_dir) / "loss_history.json", loss_history(trainer.state.log_history))
        out["global_step"] = int(trainer.state.global_step)
    write_json(Path(output_dir) / "metrics.json", out)
    return out


def summary_lines(f: dict) -> list[str]:
    """The end-of-run lines of a stage (time, step, loss, held-out figures), each saying what it measures."""
    lines = [f"[{f['stage']}] done in {f['wall_time_s']:.1f} s (training {f['train_runtime_s']:.1f} s, "
             f"step {f.get('global_step')})"]
    if "loss_first" in f:
        w = f.get("loss_window", 4)
        what = "first / last logged loss" if w == 1 else f"mean of the first / last {w} logged losses"
        lines.append(f"  training loss {f['loss_first']:.4f} -> {f['loss_last']:.4f} ({what})")
    for prefix, label in (("heldout_video_to_text_", "video→caption"), ("heldout_audio_to_text_", "audio→caption")):
        if prefix + "r1" in f:
            lines.append(
                f"  held-out {label} R@1 {f[prefix + 'r1']:.3f} (chance {f[prefix + 'chance_r1']:.3f}), "
                f"R@5 {f[prefix + 'r5']:.3f}, caption→clip R@1 {f[prefix + 't2m_r1']:.3f} "
                f"over {f[prefix + 'num_queries']} clips / {f[prefix + 'num_captions']} distinct captions"
            )
    if "heldout_loss_after" in f:
        before = f.get("heldout_loss_before")
        over = f"mean loss over the {f['heldout_samples']} held-out samples" if "heldout_samples" in f else \
            "mean loss over the held-out samples"
        lines.append(f"  held-out loss {before:.4f} -> {f['heldout_loss_after']:.4f} ({over}, before / after training)"
                     if before is not None else
                     f"  held-out loss {f['heldout_loss_after']:.4f} ({over} after training; a resumed run does not "
                     "measure it before)")
    if f.get("merged_dir"):
        lines.append(f"  merged checkpoint: {f['merged_dir']}")
    return lines


def print_figures(f: dict) -> None:
    print("\n".join(summary_lines(f)), flush=True)


# ------------------------------------------------------------------------------------------------ records and errors
def quiet_deepspeed() -> None:
    """DeepSpeed, when installed, is imported on the way by accelerate/transformers (e.g. in ``save_pretrained``) and
    logs to stdout; its accelerator auto-detection warns "Setting accelerator to CPU" on every CPU run. Machine-readable
    output (``--json``) must stay clean and a user error must stay one line: DeepSpeed's log goes to stderr and that
    one warning (about DeepSpeed, which a run without a DeepSpeed config does not use) is dropped."""
    import contextlib
    import importlib.util
    import logging
    import sys

    if importlib.util.find_spec("deepspeed") is None:
        return
    ds_logger = logging.getLogger("DeepSpeed")  # the logger DeepSpeed configures (and warns through) on import
    if not ds_logger.filters:
        ds_logger.addFilter(lambda record: "Setting accelerator to CPU" not in record.getMessage())
    with contextlib.redirect_stdout(sys.stderr):  # its log handler binds to the sys.stdout of import time
        import deepspeed  # noqa: F401


def load_stage_records(path, what: str = "dataset", check_media: bool = True) -> list[dict]:
    """The validated EmoCue records of a stage's ``train_file`` / ``eval_file`` (:func:`training.data.loaders.
    load_records`: JSONL/JSON/CSV/parquet, a folder, a saved dataset), or a :class:`ConfigError` naming the problem.
    ``check_media=False``: media files are not looked for (the stage probes them itself, :mod:`training.bad_media`)."""
    from .data.loaders import EmoCueDataError, EmptyDatasetError, load_records
    from .data.validate import EmoCueValidationError

    if path is None or str(path) == "":
        raise ConfigError(f"{what} path is not set (train_file / eval_file in the config, or --train_file PATH)")
    if not Path(path).exists():
        raise ConfigError(f"{what} path {str(path)!r} does not exist")
    try:
        return load_records(path, check_media=check_media)
    except EmptyDatasetError:
        raise ConfigError(f"{what} {str(path)!r} is empty: no EmoCue records found") from None
    except (EmoCueDataError, EmoCueValidationError) as exc:
        raise ConfigError(f"{what}: {exc}") from None


def stage_entry_point(main) -> None:
    """``python training/stageN.py ...``: run ``main(sys.argv[1:])``; a user error prints one line and exits 2."""
    import sys

    from processing_xemogpt.media import MediaError

    quiet_deepspeed()
    try:
        main(sys.argv[1:])
    except (ConfigError, MediaError) as exc:
        print(f"error: {user_message(exc)}", file=sys.stderr)
        raise SystemExit(2)


def user_message(exc: BaseException) -> str:
    """The message of a user error; one raised in a DataLoader worker comes back wrapped in torch's "Caught ... in
    DataLoader worker process N. Original Traceback ..." text, whose last part is the original message."""
    text = str(exc)
    marker = f"{type(exc).__name__}: "
    if "Original Traceback" in text and marker in text:
        return text[text.rindex(marker) + len(marker):].strip()
    return text
