"""Spans for any checkpoint by attribution: where in the clip the model looked when it wrote each cue.

The model holds one token per sampled video frame and one per audio frame (about 50 per second). After an answer is
generated, one more forward pass over the prompt and the answer (eager attention, ``output_attentions``) gives the
attention of every answer token onto every media token. For one cue of the answer:

1. its tokens: the characters of the cue in the answer (a JSON answer holds its cues verbatim; for free text the
   extracted cue is looked up in the explanation, else its content words are), mapped to the answer's tokens;
2. its weight on each media token: the attention from those tokens, averaged over layers, heads and the cue's tokens,
   onto the tokens of its modality (visual cues: the frame tokens; audio cues: the audio frame tokens; global cues
   have no span);
3. its span: the weights averaged into at most 16 equal groups of consecutive tokens (the 16 frame tokens stay as
   they are; the audio tokens are pooled), then the contiguous run of groups around the most-attended one whose
   weight is at least ``threshold`` of the way from the lowest to the highest weight, turned into seconds: group
   ``i`` of ``G`` covers ``[i, i + 1) * D / G`` of the ``D`` seconds the tokens cover (the video stream's duration;
   the audio's, at most the processor's ``max_audio_seconds``).

The output names its method: ``span_method = "attention"`` (:data:`METHOD`). This is a heuristic read-out of where
the model attended, not a trained prediction: ``docs/grounding.md`` measures how well it matches the true spans.
"""

from __future__ import annotations

import re
from typing import Sequence

from processing_xemogpt.vocabulary import CUE_DIMENSIONS

METHOD = "attention"
DEFAULT_THRESHOLD = 0.5
_WORD = re.compile(r"[A-Za-z]{4,}")


def clip_seconds(path: str, kind: str = "video") -> float | None:
    """The duration in seconds of a media file's first ``kind`` (``"video"`` | ``"audio"``) stream (PyAV; the
    container's duration when the stream has none), or None."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = getattr(container.streams, kind)
            stream = streams[0] if streams else None
            if stream is not None and stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
            return float(container.duration / av.time_base) if container.duration else None
    except (OSError, av.FFmpegError):
        return None


def cue_char_spans(answer: str, cue: str) -> list[tuple[int, int]]:
    """Where ``cue`` is in ``answer``: its first occurrence (case-insensitive), else each of its words of 4+ letters."""
    low = answer.lower()
    at = low.find(cue.lower().strip())
    if cue.strip() and at >= 0:
        return [(at, at + len(cue.strip()))]
    spans = []
    for word in _WORD.findall(cue):
        at = low.find(word.lower())
        if at >= 0:
            spans.append((at, at + len(word)))
    return spans


def threshold_run(weights: Sequence[float], threshold: float = DEFAULT_THRESHOLD) -> tuple[int, int]:
    """``(first, last + 1)``: the contiguous run around the largest weight of the weights at least ``threshold`` of
    the way from the smallest to the largest."""
    top = max(range(len(weights)), key=lambda i: weights[i])
    low, high = min(weights), weights[top]
    cut = low + threshold * (high - low)
    first = last = top
    while first > 0 and weights[first - 1] >= cut:
        first -= 1
    while last + 1 < len(weights) and weights[last + 1] >= cut:
        last += 1
    return first, last + 1


def pooled(weights: Sequence[float], bins: int) -> list[float]:
    """``weights`` averaged into ``bins`` equal consecutive groups (as they are when there are no more of them)."""
    n = len(weights)
    if n <= bins:
        return list(weights)
    edges = [round(i * n / bins) for i in range(bins + 1)]
    return [sum(weights[a:b]) / (b - a) for a, b in zip(edges, edges[1:])]


def token_span(weights: Sequence[float], seconds: float, threshold: float = DEFAULT_THRESHOLD,
               bins: int = 16) -> tuple[float, float]:
    """The span in seconds of :func:`threshold_run` over tokens that cut ``seconds`` into equal parts, the weights
    first :func:`pooled` into at most ``bins`` groups (about 50 audio tokens a second attend too sharply one by one)."""
    weights = pooled(weights, bins)
    first, end = threshold_run(weights, threshold)
    step = seconds / len(weights)
    return first * step, end * step


def answer_token_rows(tokenizer, answer: str, char_spans: list[tuple[int, int]], offset: int) -> list[int]:
    """The positions (``offset`` + index) of the answer's tokens that overlap any of ``char_spans``."""
    enc = tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)
    return [offset + i for i, (a, b) in enumerate(enc["offset_mapping"])
            if any(a < e and s < b for s, e in char_spans)]


def attention_spans(model, processor, conversation: list, answer: str, cues: dict, video_seconds: float | None,
                    audio_seconds: float | None, threshold: float = DEFAULT_THRESHOLD, device: str = "cpu") -> dict:
    """``{dimension: [{"cue", "start", "end"}]}`` for the visual and audio ``cues`` of ``answer`` (the text the model
    generated for the prompt-only ``conversation``), by the attention of the cue's tokens onto the media tokens."""
    import torch

    from training.data.spans import make_span

    inputs = processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    prompt = inputs["input_ids"]
    answer_ids = processor.tokenizer(answer, add_special_tokens=False, return_tensors="pt")["input_ids"]
    inputs["input_ids"] = torch.cat([prompt, answer_ids], dim=1)
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    inputs = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in inputs.items()}
    lm = model.language_model
    previous = lm.config._attn_implementation
    lm.config._attn_implementation = "eager"  # attention weights are returned by the eager implementation only
    try:
        with torch.inference_mode():
            out = model(**inputs, output_attentions=True, use_cache=False, logits_to_keep=1)
    finally:
        lm.config._attn_implementation = previous
    attention = torch.stack([a[0].float().mean(0) for a in out.attentions]).mean(0)  # [L, L] over layers and heads
    ids = inputs["input_ids"][0]
    columns = {"visual": ((ids == model.config.video_token_id).nonzero().flatten(), video_seconds),
               "audio": ((ids == model.config.audio_token_id).nonzero().flatten(), audio_seconds)}
    spans = {key: [] for key in CUE_DIMENSIONS}
    for key, (cols, seconds) in columns.items():
        if not len(cols) or not seconds:
            continue
        for cue in cues.get(key) or []:
            rows = answer_token_rows(processor.tokenizer, answer, cue_char_spans(answer, cue), prompt.shape[1])
            if not rows:
                continue
            weights = attention[rows][:, cols].mean(0).tolist()
            spans[key].append(make_span(cue, *token_span(weights, seconds, threshold)))
    return spans


def describe_spans(describer, samples: Sequence, answers: Sequence[str], cues: Sequence[dict],
                   threshold: float = DEFAULT_THRESHOLD) -> list[dict]:
    """:func:`attention_spans` for clips already described by a :class:`xemogpt_cli.inference.Describer`
    (``samples``: their prompt samples, ``answers``: the generated texts, ``cues``: the cues to place)."""
    out = []
    for sample, answer, named in zip(samples, answers, cues):
        clip = {"video": sample.video, "audio": sample.audio, "subtitle": sample.subtitle, "modality": sample.modality,
                "start": None, "end": None}
        out.append(clip_spans(describer, clip, answer, named or {}, threshold))
    return out


def clip_spans(describer, clip: dict, answer: str, cues: dict, threshold: float = DEFAULT_THRESHOLD) -> dict:
    """:func:`attention_spans` of one described clip or window (``clip``: ``video``, ``audio``, ``subtitle``,
    ``modality``, ``start``, ``end`` as the pipeline fed them), in seconds of the clip (a window's spans are shifted
    by its ``start``)."""
    conversation = describer.pipeline.messages_for(clip)  # the prompt the answer was generated for
    video, audio = media_seconds(describer, clip["video"], clip["audio"], clip["start"], clip["end"])
    spans = attention_spans(describer.model, describer.processor, conversation, answer, cues, video, audio, threshold,
                            describer.pipeline.device)
    shift = float(clip["start"] or 0.0)
    return {key: [{**s, "start": round(s["start"] + shift, 2), "end": round(s["end"] + shift, 2)} for s in entries]
            for key, entries in spans.items()}


def media_seconds(describer, video: str | None, audio: str | None, start: float | None = None,
                  end: float | None = None) -> tuple:
    """``(video seconds, audio seconds)`` the media tokens cover: the window ``[start, end)`` when given, else the
    streams' durations; the audio at most the processor's ``max_audio_seconds``."""
    if start is not None and end is not None:
        video_s = audio_s = float(end) - float(start)
    else:
        video_s = clip_seconds(video, "video") if video else None
        audio_s = clip_seconds(audio, "audio") if audio else None
    limit = getattr(describer.processor, "max_audio_seconds", None)
    return video_s, (min(audio_s, float(limit)) if audio_s and limit else audio_s)


def add_spans(record: dict, describer) -> dict:
    """Fill a predictions record (:mod:`xemogpt_cli.predictions`) with attention spans of its cues: its own cue lists
    (JSON answers) or the cues the offline extractor finds in its explanation (text); ``span_method`` says
    ``"attention"``."""
    from .inference import extract_cues

    cues = record.get("cues") or extract_cues(record.get("explanation") or "")
    clip = {k: record.get(k) for k in ("video", "audio", "subtitle", "modality", "start", "end")}
    record["spans"] = clip_spans(describer, clip, record.get("raw") or record.get("explanation") or "", cues)
    record["span_method"] = METHOD
    return record
