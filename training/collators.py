"""Stage-3 batches (paper §III-D3): EmoCue samples -> model inputs with the loss on the answer only.

As TRL's SFT collators do: the prompt is rendered with the processor's chat template (generation prompt included), the
answer is tokenised and closed with the end-of-turn token (so the model learns to stop), the labels mask the prompt
with -100, and TRL's ``DataCollatorForLanguageModeling`` pads (right). With ``max_length`` the answer is cut from the
right; the prompt and its media tokens are never cut.

Media come either from the files (decoded by the processor; decoded clips are kept in a bounded in-memory memo so
repeated epochs do not decode them again) or, when ``features`` is given, from the frozen-feature cache that stages 1
and 2 fill (:class:`CachedMediaFeatures`): the model then skips its frozen towers (``video_frame_features`` /
``audio_frame_features``), with identical results, because CLIP and HuBERT are frozen.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from modeling_xemogpt.modeling_xemogpt import MODALITIES  # the model's modality codes (its vocabulary)

from processing_xemogpt.media import MediaError

from .data.media_check import MediaGuard
from .data.sample import EmoCueSample
from .feature_cache import FeatureCache, file_key


class _MediaMemo:
    """Decoded media kept in memory (bounded in bytes) so repeated epochs do not decode the same clip again."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.items: OrderedDict = OrderedDict()
        self.bytes = 0

    def get(self, key, load):
        if self.max_bytes <= 0:
            return load()
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        value = load()
        size = int(getattr(value, "nbytes", 0))
        if size <= self.max_bytes:
            self.items[key] = value
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, old = self.items.popitem(last=False)
                self.bytes -= int(getattr(old, "nbytes", 0))
        return value


class CachedMediaFeatures:
    """Frozen CLIP / HuBERT features of media files from the on-disk cache of stages 1 and 2 (same encoder names, same
    content keys). ``keep_in_memory``: each entry is read once and kept (small datasets); otherwise it is read per
    batch (the OS page cache keeps hot entries). ``keys``: each file's content key as it was when the cache was
    filled (a file changed or removed since then still gives the features that were checked and extracted)."""

    def __init__(self, video_cache: FeatureCache, audio_cache: FeatureCache, keep_in_memory: bool = True,
                 keys: dict[str, str] | None = None):
        self.caches = {"video": video_cache, "audio": audio_cache}
        self.keep_in_memory = keep_in_memory
        self.keys = dict(keys or {})
        self._memory: dict[tuple[str, str], torch.Tensor] = {}

    def get(self, kind: str, path: str) -> torch.Tensor:
        key = (kind, path)
        if key in self._memory:
            return self._memory[key]
        try:
            content = self.keys.get(path) or file_key(path)
        except OSError as exc:
            raise MediaError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
        entry = self.caches[kind].get(content)
        if entry is None:
            raise MediaError(f"{path}: no {kind} features in the cache {self.caches[kind].dir}; fill it first")
        features = entry["features"].float()
        if self.keep_in_memory:
            self._memory[key] = features
        return features


class XEmoGPTSFTCollator:
    """Collates :class:`~training.data.sample.EmoCueSample` rows (objects or their dicts) into
    ``input_ids``, ``attention_mask``, ``labels``, the media inputs and ``modality`` (LongTensor of the model's codes)."""

    def __init__(self, processor, max_length: int | None = None, media_memory_mb: float = 512,
                 features: CachedMediaFeatures | None = None, guard: MediaGuard | None = None):
        from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

        self.processor = processor
        self.max_length = max_length
        self.features = features
        self.guard = guard or MediaGuard()  # a clip that fails to load: one line naming its record, or dropped
        self.memo = _MediaMemo(int(media_memory_mb * 2**20))
        self.pad = DataCollatorForLanguageModeling(pad_token_id=processor.tokenizer.pad_token_id)

    def _prompts(self, samples: Sequence[EmoCueSample]) -> list[str]:
        return self.processor.apply_chat_template([s.messages(with_answer=False, processor=self.processor)
                                                   for s in samples],
                                                  add_generation_prompt=True, tokenize=False)

    def _load(self, kind: str, media):
        """Frozen features from the cache, or the decoded frames / waveform (memoised) of a media file or array."""
        if self.features is not None:
            return self.features.get(kind, media)
        load = self.processor.load_video if kind == "video" else self.processor.load_audio
        if not isinstance(media, str):
            return load(media)
        return self.memo.get((kind, media), lambda: load(media))

    def load_media(self, samples: Sequence[EmoCueSample]) -> tuple[list[EmoCueSample], list[dict]]:
        """The samples whose media load (through the guard: one line naming the record, or dropped in ``skip``
        mode) and each one's ``{kind: frames / waveform / cached features}``."""
        loaded = self.guard.load(samples, lambda s: (s.id, [(k, getattr(s, k)) for k in ("video", "audio")
                                                            if getattr(s, k) is not None]), self._load)
        return [s for s, _ in loaded], [m for _, m in loaded]

    def encode_prompts(self, samples: Sequence[EmoCueSample], loaded: Sequence[dict] | None = None
                       ) -> tuple[list[list[int]], dict]:
        """Token ids of each prompt (placeholders expanded) and the media inputs, in placeholder order (the prompts
        of stage 3's training batches and of stage 4's rollouts); ``loaded``: the samples' :meth:`load_media`, loaded
        here when not given (then every sample must load)."""
        if loaded is None:
            kept, loaded = self.load_media(samples)
            if len(kept) != len(samples):
                dropped = sorted({s.id for s in samples} - {s.id for s in kept})
                raise ValueError(f"samples {dropped} have media that do not load; prompts are encoded for all or none")
        prompts = self._prompts(samples)
        videos = [m["video"] for m in loaded if "video" in m]
        audios = [m["audio"] for m in loaded if "audio" in m]
        if self.features is None:
            enc = self.processor(text=prompts, padding=False, return_tensors=None, videos=videos or None,
                                 audio=audios or None)
            media = {k: torch.as_tensor(enc[k]) for k in ("pixel_values_videos", "input_values",
                                                          "audio_attention_mask") if k in enc}
            return list(enc["input_ids"]), media
        from trl.trainer.utils import pad

        media = {}
        if videos:
            media["video_frame_features"] = torch.stack(videos)
        if audios:
            media["audio_frame_features"] = pad(audios, padding_value=0.0)
            media["audio_frame_mask"] = pad([torch.ones(len(f), dtype=torch.long) for f in audios], 0)
        text = self.processor.expand_placeholders(prompts, [len(f) for f in audios])
        return self.processor.tokenizer(text, add_special_tokens=False)["input_ids"], media

    def __call__(self, rows: Sequence[dict | EmoCueSample]) -> dict:
        samples = [r if isinstance(r, EmoCueSample) else EmoCueSample(**r) for r in rows]
        missing = [s.id for s in samples if s.answer is None]
        if missing:
            raise ValueError(f"samples {missing} have no answer: a training batch needs the answers")
        samples, loaded = self.load_media(samples)
        prompt_ids, media = self.encode_prompts(samples, loaded)
        answers = self.processor.tokenizer([s.answer for s in samples], add_special_tokens=False)["input_ids"]
        end = self.processor.end_of_turn_id
        examples = []
        for s, prompt, answer in zip(samples, prompt_ids, answers):
            answer = list(answer) + [end]
            if self.max_length is not None:
                room = self.max_length - len(prompt)
                if room < 1:
                    raise ValueError(f"sample {s.id!r}: the prompt alone is {len(prompt)} tokens (media included), "
                                     f"more than max_length={self.max_length}")
                answer = answer[:room]
            examples.append({"input_ids": list(prompt) + answer, "labels": [-100] * len(prompt) + answer})
        batch = self.pad(examples)
        batch.update(media)
        batch["modality"] = torch.tensor([MODALITIES.index(s.modality) for s in samples], dtype=torch.long)
        return dict(batch)
