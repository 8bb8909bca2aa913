"""Cue grounding: does each named cue come with the right place in the clip? Temporal IoU of matched cues.

Predictions and references carry per-cue spans (``{"visual"|"audio"|"global": [{"cue", "start", "end"}]}`` in
seconds; ``training/data/spans.py``). For one sample and one dimension, every reference cue that has a span is
matched to at most one predicted cue of the same dimension (greedy one-to-one on the cue similarity, most similar pair
first, a pair counts when its similarity reaches ``threshold``); the predicted cues are the sample's ``cues`` list (its
cues with and without a span). For each matched pair the temporal IoU of the two spans is taken (0 when the predicted
cue has no span). Over all matched pairs of all samples and dimensions:

* ``grounding_iou``: the mean temporal IoU;
* ``grounding_iou@0.5``: the share of matched pairs with IoU >= 0.5;
* ``grounding_spanned``: the share of matched pairs whose predicted cue has a span;
* ``grounding_matched``: the number of matched pairs (``grounding_reference``: reference cues with a span).

Cue similarity: ``"exact"`` (case-insensitive equal strings: 1, else 0), or a sentence encoder as EmoCue-360 uses
(cosine of the embeddings; the default all-MiniLM-L6-v2, :func:`emocue360.scoring.load_encoder`).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .scoring import DIMENSIONS

DEFAULT_THRESHOLD = 0.5  # cosine similarity from which a predicted cue counts as naming the reference cue
KEYS = ("grounding_iou", "grounding_iou@0.5", "grounding_spanned", "grounding_matched", "grounding_reference")


def temporal_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two time intervals ``(start, end)`` (0 when they do not overlap)."""
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return float(inter / union) if union > 0 and inter > 0 else 0.0


def _spans(item: Mapping | None, key: str) -> dict[str, tuple[float, float]]:
    out = {}
    for entry in ((item or {}).get("spans") or {}).get(key) or []:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("cue"), str):
            continue
        start, end = entry.get("start"), entry.get("end")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)) and 0 <= start < end:
            out[entry["cue"]] = (float(start), float(end))
    return out


def _cues(item: Mapping | None, key: str) -> list[str]:
    """The predicted cues of one dimension: the ``cues`` list, then any cue that only ``spans`` names."""
    listed = [c for c in ((item or {}).get("cues") or {}).get(key) or [] if isinstance(c, str) and c.strip()]
    return list(dict.fromkeys([*listed, *_spans(item, key)]))


def has_reference_spans(references: Sequence[Mapping]) -> bool:
    """Whether any reference carries a span (``xemogpt eval`` reports grounding only then)."""
    return any(_spans(ref, key) for ref in references if isinstance(ref, Mapping) for key in DIMENSIONS)


def exact_similarity(a: list[str], b: list[str]) -> np.ndarray:
    """1 where two cues are the same string (ignoring case and surrounding spaces), else 0."""
    norm = lambda items: [s.strip().lower() for s in items]  # noqa: E731
    return np.array([[float(x == y) for y in norm(b)] for x in norm(a)], dtype=np.float64).reshape(len(a), len(b))


def encoder_similarity(encoder: Any = None, device: str | None = None, batch_size: int = 128) -> Callable:
    """A cue-similarity function on a sentence encoder (cosine of L2-normalised embeddings, cached per string)."""
    from .scoring import encode_unique, load_encoder

    model = load_encoder(encoder, device)
    cache: dict[str, np.ndarray] = {}

    def similarity(a: list[str], b: list[str]) -> np.ndarray:
        new = [c for c in dict.fromkeys([*a, *b]) if c not in cache]
        if new:
            index, emb = encode_unique(new, model, batch_size)
            cache.update({c: emb[i] for c, i in index.items()})
        if not a or not b:
            return np.zeros((len(a), len(b)))
        return np.stack([cache[c] for c in a]) @ np.stack([cache[c] for c in b]).T

    return similarity


def match(similarity: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching ``(row, column)`` of a similarity matrix: the most similar pair first, pairs below
    ``threshold`` left out."""
    pairs, used_r, used_c = [], set(), set()
    order = np.argsort(-similarity, axis=None, kind="stable") if similarity.size else []
    for flat in order:
        r, c = divmod(int(flat), similarity.shape[1])
        if similarity[r, c] < threshold:
            break
        if r not in used_r and c not in used_c:
            pairs.append((r, c))
            used_r.add(r)
            used_c.add(c)
    return pairs


def matched_ious(prediction: Mapping, reference: Mapping, similarity: Callable,
                 threshold: float = DEFAULT_THRESHOLD) -> list[dict]:
    """Every matched reference cue of one sample: ``{"dimension", "reference", "prediction", "iou", "spanned"}``."""
    out = []
    for key in DIMENSIONS:
        ref_spans = _spans(reference, key)
        if not ref_spans:
            continue
        refs, preds = list(ref_spans), _cues(prediction, key)
        pred_spans = _spans(prediction, key)
        if not preds:
            continue
        for r, p in match(np.asarray(similarity(refs, preds), dtype=np.float64), threshold):
            span = pred_spans.get(preds[p])
            out.append({"dimension": key, "reference": refs[r], "prediction": preds[p], "spanned": span is not None,
                        "iou": temporal_iou(span, ref_spans[refs[r]]) if span is not None else 0.0})
    return out


def grounding_scores(predictions: Sequence[Mapping], references: Sequence[Mapping], encoder: Any = None,
                     threshold: float = DEFAULT_THRESHOLD, device: str | None = None,
                     return_per_sample: bool = False) -> dict:
    """The :data:`KEYS` figures over paired predictions and references (``encoder="exact"``: string equality).
    Figures are None when no reference cue with a span was matched."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    similarity = exact_similarity if encoder == "exact" else encoder_similarity(encoder, device)
    per = [matched_ious(p or {}, r or {}, similarity, threshold) for p, r in zip(predictions, references)]
    pairs = [m for sample in per for m in sample]
    ious = np.array([m["iou"] for m in pairs], dtype=np.float64)
    result = {
        "grounding_iou": float(ious.mean()) if pairs else None,
        "grounding_iou@0.5": float((ious >= 0.5).mean()) if pairs else None,
        "grounding_spanned": float(np.mean([m["spanned"] for m in pairs])) if pairs else None,
        "grounding_matched": len(pairs),
        "grounding_reference": sum(len(_spans(r, key)) for r in references for key in DIMENSIONS),
    }
    if return_per_sample:
        result["per_sample"] = per
    return result


def with_spans(predictions: Sequence[Mapping], spans_of: Callable[[Mapping], dict]) -> list[dict]:
    """The predictions with their ``spans`` replaced by ``spans_of(prediction)`` (e.g. a whole-clip guess, the floor
    a grounding method must beat)."""
    return [{**p, "spans": spans_of(p)} for p in predictions]


def grounding_line(result: Mapping) -> str:
    """One line of the grounding figures for the ``xemogpt eval`` table."""
    if result.get("grounding_iou") is None:
        return (f"Grounding: no predicted cue matched any of the {result.get('grounding_reference', 0)} reference "
                "cues with a span")
    return (f"Grounding (temporal IoU of matched cues): mean {result['grounding_iou']:.3f}, "
            f"IoU >= 0.5 for {100 * result['grounding_iou@0.5']:.1f}%; {result['grounding_matched']} of "
            f"{result['grounding_reference']} reference cues with a span matched, "
            f"{100 * result['grounding_spanned']:.1f}% of them given a span by the prediction")
