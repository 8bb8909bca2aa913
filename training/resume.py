"""Resume by default: what a stage run does with the output directory it is given.

Every run writes its whole configuration to ``<output_dir>/stage_config.yaml`` when it starts. Run again with an
output directory that holds the results of an earlier run (``checkpoint-*``, ``loss_history.json``,
``metrics.json``, the saved model):

* same configuration → it resumes from the last complete checkpoint and says so (no checkpoint yet: it trains from
  step 0 again, and says so);
* another configuration → it stops with one line naming the fields that differ (their value there and now) and the
  ways out: ``--overwrite`` (remove that run's results and start fresh) or another ``--output_dir``.

Nothing is overwritten silently. "Same configuration" compares the saved and the current configuration except the
fields in :data:`RESULT_NEUTRAL`, which do not change the trained weights: logging, saving and evaluation cadence,
paths of outputs and caches, progress bars, data-loading workers, the held-out set, the resume setting itself.
``--resume_from_checkpoint PATH`` resumes from that checkpoint; ``auto`` resumes from the last one even when the
directory has no ``stage_config.yaml`` (runs of older versions); ``false`` never resumes (then a directory with
results needs ``--overwrite``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from .config_utils import OLD_SECTIONS, ConfigError, config_values, save_config
from .runtime import print_main, resolve_resume

CONFIG_FILE = "stage_config.yaml"

# fields (dotted; a trailing "*" matches a prefix) whose value does not change the trained weights
RESULT_NEUTRAL = (
    "overwrite", "output_dir", "resume_from_checkpoint", "logging_*", "log_*", "save_*", "eval_*",
    "per_device_eval_batch_size", "prediction_loss_only", "disable_tqdm", "report_to", "run_name", "project",
    "trackio_*", "push_to_hub", "hub_*", "dataloader_num_workers", "dataloader_pin_memory",
    "dataloader_persistent_workers", "dataloader_prefetch_factor", "skip_memory_metrics",
    "include_num_input_tokens_seen", "eval_file", "max_eval_samples", "on_bad_media", "media_memory_mb",
    "cache_dir", "cache_batch_size", "cache_num_workers", "cache_preload", "encoder_device",
    "adapter_dir", "merged_dir", "save_merged", "loss_before_after", "reward_before_after", "torch_threads",
    "sleep_per_step", "num_completions_to_print",
)
# what a run writes in its output directory (removed by --overwrite)
RUN_OUTPUTS = (CONFIG_FILE, "metrics.json", "loss_history.json", "branch_grads.json", "skipped_media.jsonl",
               "bad_media.jsonl", "model.safetensors", "config.json", "training_args.bin", "adapter", "merged")
RESULTS = ("checkpoint-*", "metrics.json", "loss_history.json", "model.safetensors", "adapter")


def _neutral(key: str) -> bool:
    return any(key == n or (n.endswith("*") and key.startswith(n[:-1])) for n in RESULT_NEUTRAL)


def config_differences(saved: dict, current: dict) -> list[str]:
    """``"key: A there, B now"`` for each field that changes the trained result (fields present on one side only —
    a newer transformers adds fields — are not compared)."""
    a, b = saved, current
    return [f"{k}: {a[k]!r} there, {b[k]!r} now" for k in sorted(a.keys() & b.keys())
            if not _neutral(k) and a[k] != b[k]]


def run_results(out: Path) -> list[Path]:
    """What an earlier run left in ``out`` that a new run would replace."""
    return sorted(p for pattern in RESULTS for p in out.glob(pattern))


def remove_run(out: Path) -> int:
    """``--overwrite``: remove an earlier run's checkpoints and outputs from ``out`` (nothing else); their count."""
    gone = [p for p in out.glob("checkpoint-*") if p.is_dir()] + [out / n for n in RUN_OUTPUTS if (out / n).exists()]
    gone += list(out.glob("weights_fingerprint_rank*.txt"))
    for p in gone:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    return len(gone)


def _current(cfg) -> dict:
    """The configuration as ``stage_config.yaml`` holds it (YAML round trip: same types as the saved one)."""
    return yaml.safe_load(yaml.safe_dump(config_values(cfg), sort_keys=False))


def prepare_output_dir(cfg, stage: str, state) -> str | None:
    """Decide how this run uses ``output_dir`` (see the module doc), write ``stage_config.yaml`` and return
    the checkpoint to resume from (None: from step 0). Raises a one-line :class:`ConfigError` on a conflict."""
    out = Path(cfg.output_dir)
    explicit = cfg.resume_from_checkpoint
    results = run_results(out)
    resume = None
    if cfg.overwrite:
        state.wait_for_everyone()
        if state.is_main_process and out.is_dir():
            n = remove_run(out)
            if n:
                print(f"[{stage}] --overwrite: removed {n} checkpoints and outputs of the earlier run in {out}",
                      flush=True)
        state.wait_for_everyone()
        resume = resolve_resume(explicit, str(out))  # a checkpoint path given explicitly still counts
    elif results:
        never = explicit is False or (isinstance(explicit, str) and explicit.lower() in ("false", "none", "no"))
        saved_file = out / CONFIG_FILE
        way_out = "rerun with --overwrite to start fresh there, or choose another --output_dir"
        if never:
            raise ConfigError(f"{out} holds the results of an earlier run and resume_from_checkpoint is false; "
                              f"{way_out}")
        saved = (yaml.safe_load(saved_file.read_text()) or {}) if saved_file.is_file() else None
        older = saved is not None and any(isinstance(saved.get(k), dict) for k in OLD_SECTIONS)
        if older and explicit in (None, ""):  # nested sections: written before the typed stage configs
            raise ConfigError(f"{saved_file} was written by an older version (nested sections), so whether this run "
                              f"has the same configuration is unknown; --resume_from_checkpoint auto continues from "
                              f"its last checkpoint, or {way_out}")
        if saved is not None and not older:
            diffs = config_differences(saved, _current(cfg))
            if diffs:
                shown = "; ".join(diffs[:6]) + (f"; and {len(diffs) - 6} more" if len(diffs) > 6 else "")
                raise ConfigError(f"{out} holds results of another configuration (saved in {saved_file}): {shown}; "
                                  f"{way_out}")
        elif saved is None and explicit in (None, ""):
            raise ConfigError(f"{out} holds the results of an earlier run but no {CONFIG_FILE} telling which "
                              f"configuration wrote them; --resume_from_checkpoint auto continues from its last "
                              f"checkpoint, or {way_out}")
        resume = resolve_resume(explicit if explicit not in (None, "") else "auto", str(out))
        if resume:
            print_main(state, f"[{stage}] resuming from {resume}: {out} holds checkpoints of this configuration "
                              "(--overwrite starts fresh)")
        else:
            print_main(state, f"[{stage}] {out} holds an earlier run of this configuration without a complete "
                              "checkpoint: training from step 0 again")
    else:
        resume = resolve_resume(explicit, str(out)) if explicit not in (None, "") else None
    if state.is_main_process:
        save_config(cfg, out / CONFIG_FILE)
    state.wait_for_everyone()
    return resume
