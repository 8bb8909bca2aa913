"""Scoring one checkpoint of ``xemogpt grounding-study`` (:mod:`xemogpt_cli.grounding_study`): its held-out answers
on clips with partial-clip cues (grounding of the spans it writes, of attention spans, of a whole-clip guess) and on
the default clips (cues named, emotion correct)."""

from __future__ import annotations

from pathlib import Path

WHOLE_CLIP = "whole_clip"
CLIP_SECONDS = 2.0  # the synthetic clips: 16 frames at 8 fps


def _describe(describer, records: list[dict], batch_size: int) -> tuple[list, list, list]:
    """``(samples, raw answers, parsed answers)`` of the records' clips, described greedily."""
    import torch

    from training.data.answer_format import parse_answer
    from training.data.sample import sample_from_record

    samples = [sample_from_record(r, feed_all_media=False, answer_format=None) for r in records]
    with torch.inference_mode():
        raw = describer.generate(samples, batch_size=batch_size)
    return samples, raw, [parse_answer(text, describer.answer_format) for text in raw]


def whole_clip_spans(cues: dict, seconds: float) -> dict:
    """Every visual and audio cue spanning the whole clip: the floor a grounding method has to beat."""
    from training.data.spans import make_span

    return {key: [make_span(c, 0.0, seconds) for c in (cues or {}).get(key) or []] if key != "global" else []
            for key in ("visual", "audio", "global")}


def grounding_figures(parsed: list, spans_by_method: dict, records: list[dict], encoder) -> dict:
    """``{method}_grounding_*`` for each method's spans of the predicted cues."""
    from emocue360.grounding import grounding_scores

    out = {}
    for method, spans in spans_by_method.items():
        preds = [{"cues": p.cues or {}, "spans": s} for p, s in zip(parsed, spans)]
        scores = grounding_scores(preds, records, encoder=encoder)
        out.update({f"{method}_{k}": v for k, v in scores.items()})
    return out


def evaluate_model(model_dir: Path, out: Path, args) -> dict:
    """The figures of one stage-3 checkpoint (see the module doc); ``args.default_clips`` False: the grounding
    figures only."""
    from emocue360.scoring import load_encoder
    from modeling_xemogpt import XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor
    from training.data.cue_naming import cue_accuracy
    from training.data.loaders import load_records

    from .grounding import describe_spans
    from .inference import Describer

    model = XEmoGPTForConditionalGeneration.from_pretrained(model_dir).eval()
    processor = XEmoGPTProcessor.from_pretrained(model_dir)
    describer = Describer(loaded=(model, processor, str(model_dir)), max_new_tokens=args.max_new_tokens)
    encoder = load_encoder()
    figures: dict = {}

    partial = load_records(out / "partial" / "heldout" / "emocue.jsonl")
    samples, raw, parsed = _describe(describer, partial, args.batch_size)
    named = [p.cues or {} for p in parsed]
    methods = {"model": [p.spans or {} for p in parsed],
               "attention": describe_spans(describer, samples, raw, named),
               WHOLE_CLIP: [whole_clip_spans(c, CLIP_SECONDS) for c in named]}
    figures.update(grounding_figures(parsed, methods, partial, encoder))
    figures["partial_invalid_json"] = sum(p.invalid_json for p in parsed) / len(parsed)

    figures["examples"] = [{"id": r["id"], "answer": text} for r, text in zip(partial[:5], raw[:5])]
    if not getattr(args, "default_clips", True):  # the grounding figures only
        return figures
    default = load_records(out / "default" / "heldout" / "emocue.jsonl")
    _, _, parsed = _describe(describer, default, args.batch_size)
    texts = ["; ".join(c for key in ("visual", "audio", "global") for c in (p.cues or {}).get(key) or [])
             for p in parsed]
    naming = cue_accuracy(texts, default, emotions=[p.emotion for p in parsed])
    figures.update({"default_cue_accuracy": naming["cue_accuracy"],
                    "default_emotion_accuracy": naming["emotion_accuracy"],
                    "default_invalid_json": sum(p.invalid_json for p in parsed) / len(parsed)})
    return figures
