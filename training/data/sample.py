"""The EmoCue sample: what one EmoCue record feeds the model — the one place that decides its media, prompt and answer.

A record (``training/data/schema.py``) becomes an :class:`EmoCueSample` with :func:`sample_from_record`:

* **modality** — the record's (validated when records load, :mod:`training.data.validate`); the paper trains
  visual-only, audio-only and multimodal instruction pairs (§III-D3).
* **media** — ``video`` is the record's clip unless the sample is audio-only and media are not all fed; ``audio`` is
  the record's audio file, else *the audio track of its video* (the schema's convention for ``audio: null``), when the
  video has one. With ``feed_all_media`` (the paper's setting, default) a visual sample still gets its clip's audio and
  an audio sample its video; the model's per-sample gradient blocking keeps the other branch from learning from it.
* **prompt** — the processor's conversation (audio, video, subtitle, the instruction of the modality and answer format).
* **answer** — the reference in the chosen :data:`ANSWER_FORMATS` (:mod:`training.data.answer_format`): ``"text"``
  (the paper's free-text description) or ``"json"`` (the record's own cue lists, emotion and description as one JSON
  object); ``None`` for a prompt-only sample (generation, reinforcement learning).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

from .answer_format import ANSWER_FORMATS, JSON_ANSWER_INSTRUCTION, answer_text  # noqa: F401 (re-exported)
from processing_xemogpt.vocabulary import media_kind

from .schema import CUE_KEYS, MODALITY_AUDIO, MODALITY_MULTIMODAL, MODALITY_VISUAL



def has_audio_stream(path: str | None) -> bool:
    """Whether a media file holds an audio stream (audio files count; a missing or unreadable file does not). The
    probe is the up-front media check's (:func:`training.data.media_check.probe_media`, memoised per file)."""
    if not path or not os.path.exists(path):
        return False
    if media_kind(path) == "audio":
        return True
    from .media_check import probe_media

    return probe_media(path).has("audio")


def audio_source(record: dict, feed_all_media: bool = True) -> str | None:
    """The file holding a record's audio: its ``audio`` file, else the audio track of its ``video`` when there is one.

    A visual-only record gets none unless ``feed_all_media`` (then its clip's own track, when it has one)."""
    if record.get("modality") == MODALITY_VISUAL and not feed_all_media:
        return None
    if record.get("audio"):
        return record["audio"]
    video = record.get("video")
    return video if has_audio_stream(video) else None


def caption_text(record: dict, spec: str) -> str:
    """The caption a bridge is aligned with (stages 1 and 2), from ``spec``: ``short_caption`` (the paper),
    ``description``, ``subtitle``, ``emotion`` or ``cues.visual`` / ``cues.audio`` / ``cues.global``, several joined
    by ``+`` (e.g. ``cues.visual+cues.global``). Falls back to ``description`` when the spec yields nothing."""
    parts: list[str] = []
    for field in spec.split("+"):
        field = field.strip()
        if field.startswith("cues.") and field[5:] in CUE_KEYS:
            parts.extend((record.get("cues") or {}).get(field[5:], []) or [])
        elif field in ("short_caption", "description", "subtitle", "emotion"):
            if record.get(field):
                parts.append(record[field])
        else:
            raise ValueError(
                f"unknown caption field {field!r} in {spec!r}; use short_caption, description, subtitle, emotion, "
                "cues.visual, cues.audio or cues.global (joined by '+')"
            )
    return ", ".join(parts) or record.get("description") or record.get("short_caption") or ""


def sample_instruction(modality: str, answer_format: str = "text") -> str | None:
    """The instruction a sample carries: ``None`` for text answers (the processor then uses the default of its prompt
    style: :func:`processing_xemogpt.instruction_for` or the authors' one instruction), else the modality's
    instruction with the JSON request (:func:`processing_xemogpt.instruction_for`, which never returns ``None``)."""
    if answer_format == "text":
        return None
    from processing_xemogpt import instruction_for as processor_instruction

    return processor_instruction(modality, answer_format)


@dataclass(frozen=True)
class EmoCueSample:
    """One instruction sample: media paths actually fed (``None`` when not), subtitle, instruction, answer."""

    id: str
    modality: str
    video: str | None
    audio: str | None
    subtitle: str
    answer: str | None = None  # None: a prompt-only sample
    instruction: str | None = None  # None: the processor's default instruction for the modality

    def messages(self, with_answer: bool = True, processor=None) -> list[dict]:
        """The conversation for :class:`processing_xemogpt.XEmoGPTProcessor` (the answer as the assistant's turn):
        built by ``processor.build_messages`` when a processor is given (its prompt style: a converted checkpoint's
        ``"official"`` prompt), else by :func:`processing_xemogpt.build_messages`."""
        build = getattr(processor, "build_messages", None)
        if build is None:
            from processing_xemogpt import build_messages as build

        return build(video=self.video, audio=self.audio, subtitle=self.subtitle or None,
                     instruction=self.instruction, modality=self.modality,
                     answer=self.answer if with_answer else None)

    def to_dict(self) -> dict:
        return asdict(self)


def sample_from_record(record: dict, feed_all_media: bool = True, answer_format: str | None = "text",
                       answer_field: str = "description") -> EmoCueSample:
    """The sample of one validated EmoCue record (``answer_format=None``: prompt only)."""
    modality = record.get("modality") or MODALITY_MULTIMODAL
    video = record.get("video")
    if modality == MODALITY_AUDIO and not feed_all_media:
        video = None
    audio = audio_source(record, feed_all_media)
    rid = record.get("id")
    if modality == MODALITY_VISUAL and not video:
        raise ValueError(f"record {rid!r}: a visual sample needs a video")
    if modality == MODALITY_AUDIO and not audio:
        from processing_xemogpt.media import MediaError

        if video:
            raise MediaError(f"{video}: no audio stream, and record {rid!r} is an audio sample without an audio file")
        raise ValueError(f"record {rid!r}: an audio sample needs an audio file or a video with an audio track")
    fmt = answer_format or "text"
    return EmoCueSample(
        id=str(rid or ""),
        modality=modality,
        video=video,
        audio=audio,
        subtitle=record.get("subtitle") or "",
        answer=answer_text(record, fmt, answer_field) if answer_format else None,
        instruction=sample_instruction(modality, fmt),
    )
