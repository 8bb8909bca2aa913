"""The chat side of :class:`~.processing_xemogpt.XEmoGPTProcessor`, as a mixin: rendering conversations with the
prompt style's chat template (``apply_chat_template``), the official style's answered training inputs (answer + eos,
``labels``), the id that ends an assistant turn and decoding (it reads ``prompt_style``, ``chat_template`` and
``tokenizer``, and calls the processor itself to tokenise)."""

from __future__ import annotations

from .conversation import CHAT_TEMPLATES, IM_END, message_text, normalize_conversations, split_conversation


class XEmoGPTChatMixin:
    """Chat template rendering and decoding of :class:`~.processing_xemogpt.XEmoGPTProcessor` (it comes before
    ``ProcessorMixin`` in the processor's bases, so its ``apply_chat_template`` is the processor's)."""

    def apply_chat_template(self, conversation, chat_template=None, add_generation_prompt=False, tokenize=False,
                            return_dict=False, return_tensors=None, padding=True, padding_side=None,
                            continue_final_message=False, **kwargs):
        """Render one conversation (a list of messages) or a batch (a list of conversations).

        Content items: ``{"type": "video", "path"|"video": ...}``, ``{"type": "audio", "path"|"audio": ...}``
        (a wav/flac file, a video file's audio stream, or an array) and ``{"type": "text", "text": ...}``. Media are
        loaded by this processor with PyAV/soundfile (not through transformers' loaders). ``tokenize=False`` returns
        the prompt string(s); ``tokenize=True`` returns ``input_ids`` or, with ``return_dict=True``, the full
        BatchFeature of :meth:`__call__` (left padded by default).

        Official prompt style, conversations ending with the assistant's answer, ``tokenize=True``: the ids are the
        authors' training sequence (prompt, then the answer tokenised on its own, then the eos token) and, with
        ``return_dict=True``, ``labels`` hold the answer and eos (-100 on the prompt and the padding), as the stage-3
        collator builds them.
        """
        from transformers.utils.chat_template_utils import render_jinja_template

        processor_kwargs = dict(kwargs.pop("processor_kwargs", None) or {})
        for key in ("max_length", "pad_to_multiple_of"):
            if key in kwargs:
                processor_kwargs[key] = kwargs.pop(key)
        for unused in ("tools", "documents", "load_audio_from_video", "return_assistant_tokens_mask",
                       "sanitize_control_tokens", "num_frames", "fps", "do_sample_frames", "video_load_backend"):
            kwargs.pop(unused, None)
        conversations, is_batched = normalize_conversations(conversation)
        template = chat_template or self.chat_template or CHAT_TEMPLATES[self.prompt_style]
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()))
        answered = [bool(c) and isinstance(c[-1], dict) and c[-1].get("role") == "assistant" for c in conversations]
        if self.prompt_style == "official" and tokenize and any(answered) and not continue_final_message:
            if not all(answered):
                raise ValueError("a batch mixes conversations with and without the assistant's answer; tokenise "
                                 "prompts and training examples in separate batches")
            return self._answered_inputs(conversations, template, return_dict, return_tensors, padding, padding_side,
                                         processor_kwargs, kwargs)
        parts = [split_conversation(c) for c in conversations]
        prompts, _ = render_jinja_template(
            conversations=[clean for clean, _, _ in parts], chat_template=template,
            add_generation_prompt=add_generation_prompt, continue_final_message=continue_final_message,
            **{**self.tokenizer.special_tokens_map, **kwargs},
        )
        if not tokenize:
            return prompts if is_batched else prompts[0]
        out = self(text=prompts, videos=[v for _, vs, _ in parts for v in vs] or None,
                   audio=[a for _, _, aus in parts for a in aus] or None, return_tensors=return_tensors,
                   padding=padding, padding_side=padding_side or "left", **processor_kwargs)
        return out if return_dict else out["input_ids"]

    def _answered_inputs(self, conversations, template, return_dict, return_tensors, padding, padding_side,
                         processor_kwargs, template_kwargs):
        """Training inputs of answered conversations (official style): each prompt with its generation prompt, then
        its answer tokenised separately and the eos token, as the authors' model builds its training sequence."""
        from transformers import BatchFeature

        prompts = self.apply_chat_template(
            [c[:-1] for c in conversations], chat_template=template, add_generation_prompt=True, tokenize=True,
            return_dict=True, return_tensors=None, padding=False, processor_kwargs=processor_kwargs,
            **template_kwargs)
        answers = self.tokenizer([message_text(c[-1]) for c in conversations], add_special_tokens=False)["input_ids"]
        end = self.end_of_turn_id
        ids = [list(p) + list(a) + [end] for p, a in zip(prompts["input_ids"], answers)]
        labels = [[-100] * len(p) + list(a) + [end] for p, a in zip(prompts["input_ids"], answers)]
        masks = [[1] * len(row) for row in ids]
        if padding:
            width = max(len(row) for row in ids)
            left = (padding_side or "left") == "left"

            def pad(row, value):
                fill = [value] * (width - len(row))
                return fill + row if left else row + fill

            pad_id = self.tokenizer.pad_token_id
            ids = [pad(r, pad_id) for r in ids]
            labels = [pad(r, -100) for r in labels]
            masks = [pad(r, 0) for r in masks]
        data = {"input_ids": ids, "attention_mask": masks, "labels": labels}
        data.update({k: v for k, v in prompts.items() if k not in data})
        out = BatchFeature(data, tensor_type=return_tensors)  # batch-shaped, as for prompts
        return out if return_dict else out["input_ids"]

    @property
    def end_of_turn_id(self) -> int:
        """The id that closes an assistant turn: for the official style the tokenizer's eos (the authors' answers end
        with it); else ``<|im_end|>``, or the eos when the tokenizer lacks it."""
        if self.prompt_style == "official":
            return self.tokenizer.eos_token_id
        end_id = self.tokenizer.convert_tokens_to_ids(IM_END)
        return self.tokenizer.eos_token_id if end_id is None or end_id == self.tokenizer.unk_token_id else end_id

    def batch_decode(self, *args, **kwargs):
        """Forwards to the tokenizer's ``batch_decode``."""
        return self.tokenizer.batch_decode(*args, **kwargs)

    def decode(self, *args, **kwargs):
        """Forwards to the tokenizer's ``decode``."""
        return self.tokenizer.decode(*args, **kwargs)
