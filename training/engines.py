"""Which distributed engine a multi-process launch gets on a machine without GPUs, and how to tell accelerate.

``accelerate launch`` with ``distributed_type: MULTI_GPU | DEEPSPEED | FSDP`` starts one process per
``num_processes``; without GPUs (or with ``CUDA_VISIBLE_DEVICES=""``) accelerate 1.15 handles them as follows
(measured, see docs/training.md):

* DDP: ``ACCELERATE_USE_CPU`` makes the processes a ``MULTI_CPU`` group over gloo.
* DeepSpeed: DeepSpeed's CPU accelerator works (communication over gloo without Intel's oneCCL bindings), but
  accelerate only starts the group when it is named: with no backend every process believes it is alone. The
  backend is ``gloo`` in our ``PartialState`` and in ``TrainingArguments.ddp_backend``.
* FSDP: accelerate enables FSDP for GPU-class devices only; on CPU it silently trains with DDP instead. We stop
  with a clear error rather than run another engine than the one asked for.
"""

from __future__ import annotations

import os

import torch

from .config_utils import ConfigError


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def cpu_launch_backend(world_size: int) -> str | None:
    """For a multi-process launch without GPUs: the process-group backend to name (``"gloo"`` under DeepSpeed),
    after setting ``ACCELERATE_USE_CPU`` for DDP. ``None`` when there is nothing to do (one process, or GPUs)."""
    if world_size <= 1 or torch.cuda.is_available():
        return None
    if _flag("ACCELERATE_USE_FSDP"):
        raise ConfigError(
            "FSDP needs GPUs: accelerate runs FSDP only on GPU-class devices and would silently use DDP on this CPU "
            "machine; launch with training/configs/accelerate/cpu_2proc.yaml (DDP) or cpu_2proc_zero2.yaml (DeepSpeed)"
        )
    if _flag("ACCELERATE_USE_DEEPSPEED"):
        return "gloo"
    # DDP over gloo; TrainingArguments reads the same flag, so the Trainer's state agrees with ours
    os.environ.setdefault("ACCELERATE_USE_CPU", "true")
    return None


def default_ddp_backend(training_kwargs: dict) -> dict:
    """``TrainingArguments`` kwargs with ``ddp_backend: gloo`` when DeepSpeed runs on CPU processes (see above)."""
    if training_kwargs.get("ddp_backend") is None and _flag("ACCELERATE_USE_DEEPSPEED") and not torch.cuda.is_available():
        training_kwargs = {**training_kwargs, "ddp_backend": "gloo"}
    return training_kwargs
