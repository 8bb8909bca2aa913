"""The LM head only where the loss reads it (issue #26): stage 3 projects the answer positions only
(``logits_to_keep=loss_positions(labels)``) with the loss unchanged, at the paper's vocabulary of 151,936 tokens."""

from __future__ import annotations

import pytest
import torch
from peft import get_peft_model

from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration, loss_positions

PAPER_VOCAB = 151_936


def make_model(vocab_size: int | None = PAPER_VOCAB):
    overrides = {"text_config": {"vocab_size": vocab_size}} if vocab_size else {}
    config = XEmoGPTConfig.from_preset("tiny", bridge_dropout=0.0, **overrides)
    torch.manual_seed(0)
    return XEmoGPTForConditionalGeneration(config).train()


def make_batch(config, answer_lengths=(7, 12), prompt=9, vocab_size=None, seed=1) -> dict:
    """Right-padded ``[<video> x16][<audio> x10][prompt][answer]`` rows with frozen-tower features given, labels on
    the answers only; the answer ids are drawn from the whole vocabulary (the top of 151,936 included)."""
    g = torch.Generator().manual_seed(seed)
    vocab = vocab_size or config.text_config.vocab_size
    media = [config.video_token_id] * 16 + [config.audio_token_id] * 10
    width = len(media) + prompt + max(answer_lengths)
    ids = torch.full((len(answer_lengths), width), config.pad_token_id)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for i, n in enumerate(answer_lengths):
        answer = torch.randint(10, vocab, (n,), generator=g)
        row = torch.cat([torch.tensor(media), torch.randint(10, 200, (prompt,), generator=g), answer])
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
        labels[i, len(row) - n : len(row)] = answer
    size = len(answer_lengths)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels,
            "video_frame_features": torch.randn(size, 16, config.vision_config.hidden_size, generator=g),
            "audio_frame_features": torch.randn(size, 10, config.audio_config.hidden_size, generator=g),
            "modality": torch.tensor([0, 1] * (size // 2) + [0] * (size % 2))}


def test_loss_positions_are_the_answer_tokens_predecessors():
    labels = torch.tensor([[-100, -100, 5, 6, -100], [-100, 7, -100, -100, 8]])
    assert loss_positions(labels).tolist() == [[False, True, True, False, False], [True, False, False, True, False]]


@pytest.mark.parametrize("num_items_in_batch", [None, 40], ids=["mean", "num_items_in_batch"])
def test_same_loss_and_gradients_at_the_paper_vocabulary(num_items_in_batch):
    """Through PEFT (LoRA on q/k/v, bridges and projections trained, as in stage 3): the loss from the answer
    positions' logits equals the loss from all logits within 1e-5, and so do the gradients; the LM head sees
    exactly one row per answer token and its logits are the full logits' rows at those positions."""
    model = make_model()
    assert model.config.text_config.vocab_size == PAPER_VOCAB
    peft_model = get_peft_model(model, model.lora_config(r=8, lora_alpha=8, lora_dropout=0.0))
    batch = make_batch(model.config)
    assert (batch["labels"] > 100_000).any()  # ids from the top of the paper vocabulary
    extra = {} if num_items_in_batch is None else {"num_items_in_batch": torch.tensor(num_items_in_batch)}
    rows = []
    head = model.get_output_embeddings().register_forward_hook(lambda m, args, out: rows.append(args[0].shape))

    def loss_and_grads(**kwargs):
        peft_model.zero_grad(set_to_none=True)
        out = peft_model(**batch, **extra, **kwargs)
        out.loss.backward()
        grads = {n: p.grad.clone() for n, p in peft_model.named_parameters() if p.grad is not None}
        return out, grads

    full, full_grads = loss_and_grads()
    keep = loss_positions(batch["labels"])
    answer, answer_grads = loss_and_grads(logits_to_keep=keep)
    head.remove()

    n_answer = int((batch["labels"] != -100).sum())
    assert rows == [torch.Size([2, batch["input_ids"].shape[1], 128]), torch.Size([n_answer, 128])]
    assert full.logits.shape == (*batch["input_ids"].shape, PAPER_VOCAB)
    assert answer.logits.shape == (n_answer, PAPER_VOCAB)
    assert torch.allclose(answer.logits, full.logits[keep], atol=1e-5)
    print(f"\nloss over all positions {full.loss.item():.7f}, over the answer positions {answer.loss.item():.7f}, "
          f"|diff| {abs(full.loss.item() - answer.loss.item()):.1e}")
    assert abs(full.loss.item() - answer.loss.item()) < 1e-5
    if num_items_in_batch is None:  # the mean over the answer tokens, as transformers' ForCausalLMLoss
        want = torch.nn.functional.cross_entropy(full.logits[keep], batch["labels"][:, 1:][keep[:, :-1]])
    else:  # the sum divided by the Trainer's count
        want = torch.nn.functional.cross_entropy(full.logits[keep], batch["labels"][:, 1:][keep[:, :-1]],
                                                 reduction="sum") / num_items_in_batch
    assert abs(answer.loss.item() - want.item()) < 1e-5
    assert full_grads.keys() == answer_grads.keys() and len(full_grads) > 10
    assert any("lora_" in n for n in full_grads) and any("vecb" in n for n in full_grads)
    worst = max(float((full_grads[n] - answer_grads[n]).abs().max()) for n in full_grads)
    scale = max(float(g.abs().max()) for g in full_grads.values())
    print(f"largest gradient difference {worst:.1e} (largest gradient {scale:.2e})")
    assert worst < 1e-5 * max(1.0, scale)


def test_bool_mask_must_match_the_labels():
    model = make_model(vocab_size=None)
    batch = make_batch(model.config)
    with pytest.raises(ValueError, match="labels' shape"):
        model(**batch, logits_to_keep=loss_positions(batch["labels"])[:, :-1])


def test_stage3_trainer_computes_the_answer_logits_only(tmp_path):
    """XEmoGPTSFTTrainer.compute_loss: the LM head projects the answer positions only; the loss (with the
    Trainer's num_items_in_batch) and TRL's mean_token_accuracy metric equal those of the full logits."""
    import datasets
    from trl import SFTConfig

    from processing_xemogpt import XEmoGPTProcessor
    from training.stage3_sft import make_trainer_class

    model = make_model(vocab_size=None)
    batch = make_batch(model.config, answer_lengths=(7, 12, 3))
    args = SFTConfig(output_dir=str(tmp_path), report_to="none", remove_unused_columns=False, use_cpu=True,
                     dataset_kwargs={"skip_prepare_dataset": True}, bf16=False, max_steps=1)
    trainer = make_trainer_class()(model=model, args=args, train_dataset=datasets.Dataset.from_list([{"x": 0}]),
                                   processing_class=XEmoGPTProcessor.from_preset("tiny"),
                                   peft_config=model.lora_config(r=8, lora_alpha=8, lora_dropout=0.0))
    rows = []
    head = model.get_output_embeddings().register_forward_hook(lambda m, a, out: rows.append(a[0].shape[:-1]))
    n_answer = int((batch["labels"] != -100).sum())
    loss = trainer.compute_loss(trainer.model, dict(batch), num_items_in_batch=torch.tensor(n_answer))
    head.remove()
    assert rows == [torch.Size([n_answer])]
    with torch.no_grad():
        full = trainer.model(**batch).logits
    keep = loss_positions(batch["labels"])
    targets = batch["labels"][:, 1:][keep[:, :-1]]
    want = torch.nn.functional.cross_entropy(full[keep], targets)
    assert abs(loss.item() - want.item()) < 1e-5
    accuracy = trainer._metrics["train"]["mean_token_accuracy"]
    assert accuracy == [pytest.approx((full[keep].argmax(-1) == targets).float().mean().item())]
