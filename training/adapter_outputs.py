"""What stages 3 and 4 save at the end: the PEFT adapter and the merged checkpoint (LoRA folded into the LLM, a plain
remote-code XEmoGPT with its processor), also under DeepSpeed ZeRO-3, and the generation budget the merged
checkpoint's answers need."""

from __future__ import annotations

from pathlib import Path


def output_dirs(cfg) -> tuple[str, str | None]:
    """``(adapter folder, merged folder or None)`` of a stage-3/4 run: ``adapter_dir`` / ``merged_dir`` or their
    places in ``output_dir``; no merged folder without ``save_merged``."""
    adapter_dir = cfg.adapter_dir or str(Path(cfg.output_dir) / "adapter")
    merged_dir = (cfg.merged_dir or str(Path(cfg.output_dir) / "merged")) if cfg.save_merged else None
    return adapter_dir, merged_dir


def answer_budget(processor, samples) -> int:
    """The generation budget the trained model's answers need: its longest training answer in tokens (with the end
    of turn), plus a quarter, rounded up to 16."""
    answers = [s["answer"] for s in samples if s.get("answer")]
    longest = max((len(ids) for ids in processor.tokenizer(answers, add_special_tokens=False)["input_ids"]),
                  default=0) + 1
    return -(-int(longest * 1.25) // 16) * 16


def save_adapter_and_merged(trainer, processor, state, adapter_dir: str, merged_dir: str | None, fresh_base,
                            max_new_tokens: int | None = None) -> None:
    """The PEFT adapter (LoRA + bridges/projections as ``modules_to_save``, safetensors) in ``adapter_dir`` and, with
    ``merged_dir``, the merged checkpoint (rank 0). Every rank calls this.

    Under DeepSpeed ZeRO-3 the trainable weights are gathered (:func:`training.zero3.trainable_state`), the adapter
    is saved from them, and the merge happens on rank 0 in ``fresh_base()`` (the base model built again, whole) with
    the trained model's LoRA config and those weights: the partitioned training copy cannot be merged or copied."""
    from .zero3 import trainable_state, zero3_enabled

    if not zero3_enabled():
        trainer.save_model(adapter_dir)
        if merged_dir and state.is_main_process:
            save_merged(trainer.accelerator.unwrap_model(trainer.model), processor, merged_dir, max_new_tokens)
        state.wait_for_everyone()
        return
    from peft import get_peft_model

    trained = trainer.accelerator.unwrap_model(trainer.model)
    weights = trainable_state(trained)  # a collective: every rank
    if state.is_main_process:
        trainer._save(adapter_dir, state_dict=weights)  # what Trainer.save_model writes, from the gathered weights
        if merged_dir:
            peft_model = get_peft_model(fresh_base(), trained.peft_config[trained.active_adapter])
            result = peft_model.load_state_dict(weights, strict=False)
            if result.unexpected_keys:
                raise RuntimeError(f"trained weights the rebuilt model lacks: {result.unexpected_keys[:5]}")
            save_merged(peft_model, processor, merged_dir, max_new_tokens)
    state.wait_for_everyone()


def save_merged(peft_model, processor, merged_dir: str, max_new_tokens: int | None = None) -> None:
    """LoRA merged into the LLM, bridges/projections from the trained copies: a plain XEmoGPT checkpoint.
    ``max_new_tokens`` goes to its generation config (the budget ``xemogpt serve`` uses by default)."""
    import copy

    merged = copy.deepcopy(peft_model).merge_and_unload()
    # TRL patched forward on the instance (fused LM head); a fresh checkpoint must not carry that
    merged.__dict__.pop("forward", None)
    if max_new_tokens:
        merged.generation_config.max_new_tokens = int(max_new_tokens)
    merged.save_pretrained(merged_dir)
    processor.save_pretrained(merged_dir)
