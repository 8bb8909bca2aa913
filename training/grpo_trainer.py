"""XEmoGPT on TRL's ``GRPOTrainer``: the video + audio adapter of stage 4 (reinforcement learning).

TRL 1.16 runs the whole GRPO recipe — repeated prompts, group sampling, rewards, group-normalised advantages, the
clipped policy objective with the KL term against the reference, buffering, logging — and passes *images* to the model
when its prompts carry them. XEmoGPT's prompts carry a video and an audio clip whose frozen features are scattered into
``<video>`` / ``<audio>`` placeholder runs, so this subclass overrides the four hooks where media enter and changes
nothing else:

* ``_generate_and_score_completions`` — before TRL samples a generation batch, encodes each row's prompt and media
  once (:meth:`~training.collators.XEmoGPTSFTCollator.encode_prompts`: frozen CLIP / HuBERT features from the cache of
  stages 1-2, or decoded media) and, after TRL has scored the batch, adds the media to it row by row
  (:mod:`training.rollout_media`), so they follow TRL's shuffling and splitting of the batch into steps;
* ``_tokenize_prompts`` — returns those prompt ids (placeholders expanded) and the media as ``generate`` keyword
  arguments; TRL's own transformers path then samples the group with the model's KV-cached ``generate`` (media are
  consumed at prefill);
* ``_get_per_token_logps_and_entropies`` — the log-probabilities of the completion tokens (policy, old policy and
  reference) come from XEmoGPT's own forward with the rows' media and ``modality`` codes (per-sample gradient
  blocking, as in stage 3). TRL's fused LM head runs the backbone of a plain causal LM, which would skip the placeholder
  scatter; here the model returns the logits of the positions that predict a real completion token only (a bool
  ``logits_to_keep``: no prompt, no padding after a completion's end; :func:`completion_logps`) and TRL's
  ``selective_log_softmax_and_entropy`` turns them into log-probabilities and entropies at TRL's sampling temperature;
* ``compute_loss`` — makes the media of the step's rows available to that forward, then runs TRL's loss unchanged.

With ``disable_dropout`` the bridges' attention dropout (a float of ``nn.MultiheadAttention``, which TRL's
``disable_dropout_in_model`` does not reach) is switched off too, so policy and reference agree on the same text.

The trainer is given the tokenizer as ``processing_class``: TRL treats a ``ProcessorMixin`` as an image-text processor
(it reads ``config.image_token_id`` and calls ``apply_chat_template`` on image messages), while the prompts here are
tokenised by the hooks above.
"""

from __future__ import annotations

import contextlib

import torch

from . import rollout_media


def rollout_sample(row: dict):
    """The :class:`~training.data.sample.EmoCueSample` of a prompt-dataset row (its sample fields)."""
    from dataclasses import fields

    from .data.sample import EmoCueSample

    return EmoCueSample(**{f.name: row.get(f.name) for f in fields(EmoCueSample)})


def completion_logps(model, ids, mask, completion_length: int, media: dict, temperature: float = 1.0,
                     compute_entropy: bool = False, autocast=None):
    """Log-probabilities (and entropies) ``[rows, completion_length]`` of the completion tokens, the last
    ``completion_length`` columns of ``ids``, under ``model`` with the rows' media: what TRL's GRPO loss reads, zero
    where ``mask`` marks completion padding.

    The LM head runs only where a completion token is predicted (a bool ``logits_to_keep``: the position before
    each real completion token), not on the prompt, the padding after the end of a completion or the last
    position; TRL's ``selective_log_softmax(_and_entropy)`` turns those logits into log-probabilities at
    ``temperature``, in pieces of at most ``completion_length`` positions (TRL's loop is per row of its input)."""
    from trl.trainer.utils import selective_log_softmax, selective_log_softmax_and_entropy

    row_mask = mask[:, -completion_length:].bool()
    keep = torch.zeros_like(ids, dtype=torch.bool)
    keep[:, -completion_length - 1 : -1] = row_mask  # position t predicts token t + 1
    with autocast() if autocast is not None else contextlib.nullcontext():
        logits = model(input_ids=ids, attention_mask=mask, use_cache=False, logits_to_keep=keep, **media).logits
    targets = ids[:, -completion_length:][row_mask]
    logps, entropies = [], []
    for piece, target in zip(logits.split(completion_length), targets.split(completion_length)):
        if compute_entropy:
            lp, ent = selective_log_softmax_and_entropy(piece[None], target[None], temperature=temperature)
            entropies.append(ent[0])
        else:
            lp = selective_log_softmax(piece[None], target[None], temperature=temperature)
        logps.append(lp[0])

    def scatter(values):  # back to [rows, completion_length], zero on the padding
        flat = torch.cat(values) if values else logits.new_zeros(0)
        return flat.new_zeros(row_mask.shape).masked_scatter(row_mask, flat)

    return scatter(logps), scatter(entropies) if compute_entropy else None


def make_grpo_trainer_class():
    from trl import GRPOTrainer

    from modeling_xemogpt.modeling_xemogpt import MODALITIES

    class XEmoGPTGRPOTrainer(GRPOTrainer):
        """``GRPOTrainer`` whose prompts carry XEmoGPT's video and audio (see :mod:`training.grpo_trainer`).

        ``prompt_encoder`` is a :class:`~training.collators.XEmoGPTSFTCollator` (its ``encode_prompts`` renders the
        prompts with the processor's chat template and returns their ids and media, from the feature cache when it
        has one)."""

        def __init__(self, *args, prompt_encoder, **kwargs):
            self.prompt_encoder = prompt_encoder
            self._encoded_prompts = None  # (prompt ids, model-form media) of the generation batch being sampled
            self._rows_media = None  # per-row media of the rows whose log-probabilities are being computed
            super().__init__(*args, **kwargs)
            if self.args.disable_dropout:  # TRL zeroes nn.Dropout modules; the bridges' attention dropout is a float
                for module in self.model.modules():
                    if isinstance(module, torch.nn.MultiheadAttention):
                        module.dropout = 0.0

        # -- sampling ---------------------------------------------------------------------------------------------
        def _generate_and_score_completions(self, inputs):
            samples = [rollout_sample(row) for row in inputs]
            prompt_ids, media = self.prompt_encoder.encode_prompts(samples)
            device = self.accelerator.device
            media = {k: v.to(device) for k, v in media.items()}
            self._encoded_prompts = ([list(map(int, ids)) for ids in prompt_ids], media)
            rows = rollout_media.to_rows(media, [s.video is not None for s in samples],
                                         [s.audio is not None for s in samples],
                                         [MODALITIES.index(s.modality) for s in samples])
            self._rows_media = {k: v.to(device) for k, v in rows.items()}
            try:
                output = super()._generate_and_score_completions(inputs)
            finally:
                self._encoded_prompts = None
            output.update(self._rows_media)
            return output

        def _tokenize_prompts(self, prompts):
            if self._encoded_prompts is None:
                raise RuntimeError("XEmoGPT prompts are tokenised with their media in _generate_and_score_completions")
            prompt_ids, media = self._encoded_prompts
            if len(prompt_ids) != len(prompts):
                raise RuntimeError(f"{len(prompts)} prompts but {len(prompt_ids)} encoded rows")
            return prompt_ids, None, dict(media)

        # -- log-probabilities ------------------------------------------------------------------------------------
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            self._rows_media = rollout_media.select(inputs)
            return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                        num_items_in_batch=num_items_in_batch)

        def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep,
                                               batch_size=None, compute_entropy=False, compute_aux_loss=False,
                                               **image_inputs):
            if self._rows_media is None:
                raise RuntimeError("no rollout media for these rows")
            batch_size = batch_size or input_ids.size(0)
            all_logps, all_entropies = [], []
            for start in range(0, input_ids.size(0), batch_size):
                rows = slice(start, min(start + batch_size, input_ids.size(0)))
                ids, mask = input_ids[rows], attention_mask[rows]
                media = rollout_media.model_inputs(self._rows_media, rows)
                logps, entropy = completion_logps(model, ids, mask, logits_to_keep, media, self.temperature,
                                                  compute_entropy, self.accelerator.autocast)
                all_logps.append(logps)
                all_entropies.append(entropy)
            entropies = torch.cat(all_entropies) if compute_entropy else None
            return torch.cat(all_logps), entropies, None

    return XEmoGPTGRPOTrainer
