"""``Stage4Config``: the settings of stage 4 (GRPO with cue-level rewards, ``training/stage4_grpo.py``) as TRL's
``GRPOConfig`` plus XEmoGPT's own fields (the instruction samples and LoRA as in stage 3, the rewards), with the
defaults of the paper-scale run."""

from __future__ import annotations

from dataclasses import dataclass

from trl import GRPOConfig

from .config_utils import ConfigError, json_mapping
from .rewards import REWARD_FUNCTIONS
from .stage3_config import InstructionArguments, check_instruction_arguments
from .stage_arguments import StageArguments, described, prepare_stage_config

DEFAULT_REWARD_WEIGHTS = {"cue_f1_visual": 1.0, "cue_f1_audio": 1.0, "cue_f1_global": 1.0, "emotion_match": 1.0,
                          "format_length": 0.5}
REFUSED_BACKENDS = {
    "use_vllm": "vLLM has no implementation of XEmoGPT (CLIP + HuBERT towers, bridges, placeholder scatter) and TRL "
                "hands it images only",
    "use_transformers_continuous_batching": "transformers' generate_batch takes token ids only, so the video and audio "
                                            "of a prompt cannot reach the model",
}


@dataclass
class Stage4Config(StageArguments, InstructionArguments, GRPOConfig):
    """Stage 4: a fresh LoRA adapter on the stage-3 checkpoint (``base_model``, required), G=8 completions per prompt,
    KL weight 0.04 towards the stage-3 weights, the cue-level rewards of :mod:`training.rewards`."""

    rewards: dict | str | None = described(
        "weight of each reward by name, over the defaults (cue_f1_visual/audio/global 1, emotion_match 1, "
        "format_length 0.5); null leaves one out, 0 logs it without training on it (JSON on the command line)",
        default_factory=dict)
    reward_encoder: str | None = described("sentence encoder of the cue rewards (default: EmoCue-360's "
                                           "all-MiniLM-L6-v2)")
    min_words: int = described("format/length reward: the fewest words of a good answer", 30)
    max_words: int = described("format/length reward: the most words of a good answer", 250)
    label_set: str | None = described("the label set answers and labels are folded into (training/data/labels.py)")
    reward_before_after: bool = described("TRL's evaluation of the held-out prompts' rewards before and after training",
                                          True)
    weights_fingerprint: bool = described("debugging: write weights_fingerprint_rank{N}.txt (do the ranks agree?)",
                                          False)
    output_dir: str | None = described("where checkpoints, adapter/, merged/ and metrics.json go",
                                       "outputs/stage4_grpo")
    per_device_train_batch_size: int = described("completions per process and step", 8)
    gradient_accumulation_steps: int = described("gradient accumulation steps", 2)
    num_generations: int | None = described("G: completions per prompt (the generation batch must be a multiple)", 8)
    max_completion_length: int | None = described("the longest completion in tokens", 384)
    beta: float = described("KL weight towards the stage-3 model", 0.04)
    learning_rate: float = described("learning rate", 2e-6)
    lr_scheduler_type: str = described("learning-rate schedule", "constant")
    warmup_steps: float = described("warm-up steps", 10)
    num_train_epochs: float = described("epochs", 1)
    bf16: bool | None = described("bf16 mixed precision", True)
    logging_steps: float = described("log every N steps", 5)
    save_steps: float = described("save a checkpoint every N steps", 100)
    save_total_limit: int | None = described("checkpoints kept", 3)
    log_completions: bool = described("completions/*.parquet: every logged step's texts and rewards", True)
    num_completions_to_print: int | None = described("completions printed per logged step", 0)
    ddp_find_unused_parameters: bool | None = described("DDP: a batch may leave one branch unused", True)
    disable_dropout: bool = described("the policy and reference log-probabilities of the same text must agree", True)

    def __post_init__(self):
        prepare_stage_config(self)
        check_instruction_arguments(self)
        self.rewards = json_mapping(self.rewards, "rewards")
        unknown = [name for name in self.rewards if name not in REWARD_FUNCTIONS]
        if unknown:
            raise ConfigError(f"rewards: unknown reward {unknown[0]!r}; choose from {', '.join(REWARD_FUNCTIONS)}")
        for key, why in REFUSED_BACKENDS.items():
            if getattr(self, key, False):
                raise ConfigError(f"{key} is not supported for XEmoGPT: {why}; generation uses transformers' generate "
                                  "(leave it false)")
        if self.reward_weights is not None:
            raise ConfigError("set the reward weights with rewards (--rewards '{\"cue_f1_visual\": 1.0}'), not "
                              "reward_weights")
        super().__post_init__()

    def reward_weights_by_name(self) -> dict:
        """Each reward's weight: the defaults, then ``rewards`` (None: left out)."""
        return {name: {**DEFAULT_REWARD_WEIGHTS, **self.rewards}.get(name) for name in REWARD_FUNCTIONS}
