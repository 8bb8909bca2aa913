"""``Stage3Config``: the settings of stage 3 (instruction tuning, paper §III-D3, §VI-A) as TRL's ``SFTConfig`` plus
XEmoGPT's own fields, with the paper's values as defaults; :class:`InstructionArguments` holds what stage 4 shares.

A bridge is used iff it is given: ``vecb`` / ``aecb`` name the stage-1/2 output it starts from, ``random`` (random
weights) or ``off`` (no bridge: the frozen features go straight to the projection, Table V); unset, the bridges of
``base_model`` are kept (and without a base model it is an error).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processing_xemogpt.vocabulary import ANSWER_FORMATS, MODALITIES
from trl import SFTConfig

from .config_utils import ConfigError
from .stage_arguments import StageArguments, described, prepare_stage_config

BRIDGE_WORDS = ("off", "random")  # vecb / aecb values that are not a folder


@dataclass
class InstructionArguments:
    """What stages 3 and 4 share: the instruction samples, the LoRA adapter and the saved outputs."""

    feed_all_media: bool = described("feed a record's every medium (visual-only records keep their audio track); the "
                                     "model's per-sample gradient blocking keeps the other branch out", True)
    answer_field: str = described("the record field the answer is written from", "description")
    answer_format: str = field(default="text", metadata={
        "help": "text (the paper's free-text explanation) or json (cue lists, emotion, explanation)",
        "choices": ANSWER_FORMATS})
    media_memory_mb: float = described("decoded media kept in memory per process (MB) while collating", 512)
    modalities: list[str] | None = described("train on records of these modalities only (visual, audio, multimodal)")
    lora_r: int | None = described("LoRA rank (default: the model config's, 512 for the paper)")
    lora_alpha: int | None = described("LoRA alpha (default: the model config's, 512)")
    lora_dropout: float | None = described("LoRA dropout (default: the model config's, 0.05)")
    lora_target_modules: list[str] | None = described("LoRA target modules (default: the model config's q/k/v)")
    lora_modules_to_save: list[str] | None = described("modules trained fully beside the bridges and projections")
    adapter_dir: str | None = described("where the PEFT adapter goes (default: output_dir/adapter)")
    merged_dir: str | None = described("where the merged checkpoint goes (default: output_dir/merged)")
    save_merged: bool = described("also save LoRA merged into the LLM as a full remote-code checkpoint", True)


def check_instruction_arguments(config) -> None:
    if config.answer_format not in ANSWER_FORMATS:
        raise ConfigError(f"answer_format must be one of {', '.join(ANSWER_FORMATS)}, got {config.answer_format!r}")
    unknown = [m for m in config.modalities or [] if m not in MODALITIES]
    if unknown:
        raise ConfigError(f"modalities: unknown {unknown[0]!r}; choose from {', '.join(MODALITIES)}")
    config.remove_unused_columns = False  # the collator reads the sample's own columns


@dataclass
class Stage3Config(StageArguments, InstructionArguments, SFTConfig):
    """Stage 3 (``training/stage3_sft.py``): Qwen3-4B with LoRA r=512 on q/k/v, VECB/AECB and both projections
    trained fully from the stage-1/2 outputs, CLIP and HuBERT frozen; batch 8, lr 1e-5, bf16 (paper §VI-A)."""

    vecb: str | None = described("the stage-1 output VECB starts from, `random` (random weights) or `off` (no VECB); "
                                 "unset: base_model's VECB")
    aecb: str | None = described("the stage-2 output AECB starts from, `random` or `off` (no AECB); unset: "
                                 "base_model's AECB")
    bridge_learning_rate: float | None = described(
        "VECB's and AECB's own learning rate (null: learning_rate, the paper's single rate)")
    loss_before_after: bool = described("measure the held-out loss before and after training", True)
    record_branch_grads: bool = described("debugging: the largest |grad| of each branch per step, in branch_grads.json",
                                          False)
    output_dir: str | None = described("where checkpoints, adapter/, merged/ and metrics.json go", "outputs/stage3_sft")
    learning_rate: float = described("the paper's stage-3 learning rate", 1e-5)
    per_device_train_batch_size: int = described("per process: the paper's global batch is 8", 8)
    bf16: bool | None = described("bf16 mixed precision (the paper's)", True)
    max_length: int | None = described("truncate prompt + answer to this many tokens (null: no limit)", 2048)
    lr_scheduler_type: str = described("learning-rate schedule", "cosine")
    warmup_steps: float = described("warm-up steps", 100)
    save_steps: float = described("save a checkpoint every N steps", 500)
    save_total_limit: int | None = described("checkpoints kept", 3)
    dataloader_num_workers: int = described("collating workers", 4)
    dataset_kwargs: dict | str | None = described("SFTConfig.dataset_kwargs (the samples are prepared by the collator)",
                                                  default_factory=lambda: {"skip_prepare_dataset": True})

    def __post_init__(self):
        for name in ("vecb", "aecb"):
            if getattr(self, name) == "":
                setattr(self, name, None)
        prepare_stage_config(self)
        check_instruction_arguments(self)
        if self.dataset_kwargs is None:
            self.dataset_kwargs = {"skip_prepare_dataset": True}
        super().__post_init__()

    def bridge_switches(self) -> dict:
        """``{"use_vecb": False}`` / ``{"use_aecb": False}`` for the bridges set to ``off``."""
        return {f"use_{name}": False for name in ("vecb", "aecb") if getattr(self, name) == "off"}
