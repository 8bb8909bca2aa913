"""Table II-style reports: BLEU-1/4 + CIDEr + EmoCue-360 in one call, and the Markdown row formatter.

Used by ``xemogpt eval`` and the demo::

    from emocue360.report import score_all, format_table
    row = score_all(predictions, references)                     # texts, cue dicts, or records
    print(format_table({"XEmoGPT (tiny)": row, "baseline": other}))
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .pipeline import compute_emocue360
from .text_metrics import bleu_cider

__all__ = ["COLUMNS", "TEXT_KEYS", "split_record", "like_with_like", "score_all", "format_table"]

# keys that hold a record's free text, in order of preference (``explanation``: ``xemogpt describe``'s predictions)
TEXT_KEYS = ("description", "text", "explanation", "prediction")

# (header, result key, kind): kind "text" = BLEU/CIDEr (shown as is), "cue" = EmoCue-360 fraction (x100 by default)
COLUMNS = [
    ("BLEU-1", "bleu_1", "text"),
    ("BLEU-4", "bleu_4", "text"),
    ("CIDEr", "cider", "text"),
    ("Vis-Emo P", "visual_precision", "cue"),
    ("Vis-Emo R", "visual_recall", "cue"),
    ("Aud-Emo P", "audio_precision", "cue"),
    ("Aud-Emo R", "audio_recall", "cue"),
    ("Glo-Emo P", "global_precision", "cue"),
    ("Glo-Emo R", "global_recall", "cue"),
    ("Mean", "mean", "cue"),
]


def split_record(item: Any, where: str = "item") -> tuple[str | None, Any]:
    """(text for BLEU/CIDEr or None, input for EmoCue-360) of a string, a cue dict, or a record.

    A record is a dict with a text (one of :data:`TEXT_KEYS`: ``description``, ``text``, ``explanation`` or
    ``prediction``) and/or ``cues``; when it has cues they are used as they are (no extraction) and the text only feeds
    BLEU/CIDEr.
    """
    if isinstance(item, str):
        return item, item
    if isinstance(item, Mapping):
        key = next((k for k in TEXT_KEYS if item.get(k) is not None), TEXT_KEYS[0])
        text = item.get(key)
        if text is not None and not isinstance(text, str):
            raise ValueError(f"{where}: '{key}' must be a string, got {type(text).__name__}")
        if "cues" in item and item["cues"] is not None:
            return text, dict(item["cues"])
        if text is not None:
            return text, text
        if {"visual", "audio", "global", "auditory", "emotional"} & set(item):
            return None, dict(item)  # a bare cue dict
        raise ValueError(f"{where}: needs 'description' (or 'text') or 'cues'")
    raise ValueError(f"{where}: expected a string or a dict, got {type(item).__name__}")


def like_with_like(prediction: Any, reference: Any) -> Any:
    """The reference as it is scored against ``prediction``, so that cues of the same origin meet: a prediction
    scored from its text (no cues of its own: the extractor reads it) meets the reference's *text*, read by the same
    extractor, when the reference has one (not the reference's annotated cue lists, which may file cues under other
    dimensions than the extractor does); a prediction with its own cue lists meets the reference's cue lists."""
    if not isinstance(reference, Mapping) or reference.get("cues") is None:
        return reference
    _, pred_input = split_record(prediction, "prediction")
    if isinstance(pred_input, str) and split_record(reference, "reference")[0] is not None:
        return {k: v for k, v in reference.items() if k != "cues"}
    return reference


def score_all(predictions: Sequence[Any], references: Sequence[Any], **kwargs) -> dict:
    """BLEU-1, BLEU-4, CIDEr and EmoCue-360 for one system.

    ``predictions`` / ``references``: strings, cue dicts, or records (see :func:`split_record`). BLEU/CIDEr are
    computed when every pair has texts (else they are None). ``kwargs`` go to
    :func:`emocue360.pipeline.compute_emocue360` (extractor, model, encoder, preset, ...). Returns one flat dict with
    ``bleu_1``, ``bleu_4``, ``cider``, the EmoCue-360 keys and ``num_samples``.
    """
    if predictions is None or references is None:
        raise ValueError("predictions and references are required")
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    p_split = [split_record(x, f"predictions[{i}]") for i, x in enumerate(predictions)]
    r_split = [split_record(x, f"references[{i}]") for i, x in enumerate(references)]
    result: dict[str, Any] = {"num_samples": len(p_split)}
    p_texts, r_texts = [t for t, _ in p_split], [t for t, _ in r_split]
    if p_texts and all(t is not None for t in (*p_texts, *r_texts)):
        result.update(bleu_cider(p_texts, r_texts))
    else:
        result.update({"bleu_1": None, "bleu_4": None, "cider": None})
    result.update(compute_emocue360([c for _, c in p_split], [c for _, c in r_split], **kwargs))
    return result


def _fmt(value: Any, kind: str, percent: bool) -> str:
    if value is None:
        return "-"
    if kind == "cue" and percent:
        return f"{100 * float(value):.1f}"
    return f"{float(value):.4f}"


def format_table(rows: Mapping[str, Mapping[str, Any]], percent: bool = True, name_header: str = "Model") -> str:
    """A Markdown table with one Table II row per entry of ``rows`` (name -> result dict of :func:`score_all`).

    BLEU/CIDEr are printed with four decimals; EmoCue-360 P/R and Mean as percentages with one decimal (Table II's
    convention) unless ``percent=False``. Missing values print as ``-``.
    """
    if not rows:
        raise ValueError("format_table needs at least one row")
    headers = [name_header] + [h for h, _, _ in COLUMNS]
    body = [[str(name)] + [_fmt(r.get(key), kind, percent) for _, key, kind in COLUMNS] for name, r in rows.items()]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(headers)]

    def line(cells):
        return "| " + " | ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) \
            + " |"

    sep = "|" + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"
    return "\n".join([line(headers), sep] + [line(b) for b in body])
