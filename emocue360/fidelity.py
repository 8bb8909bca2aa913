"""Fidelity of an EmoCue-360 cue extractor against gold cue lists.

The metric's first step (§V-B "Information Extraction") turns a description into visual / audio / global cues. This
module measures how close an extractor comes to hand-written gold cues, with EmoCue-360's own matching
(:func:`emocue360.scoring.score_cues`: all-MiniLM-L6-v2 cosine, eq. 10-11, macro-averaged per dimension), and tabulates
where the extracted cues land:

* **per-dimension P/R/F1** -- the extracted cues of each description scored as the *prediction* against its gold cues
  as the *reference*; a description without gold cues in a dimension is skipped for it (as the metric does);
* **confusion table of dimension assignments** -- every extracted cue is matched to its most similar gold cue of the
  same description in *any* dimension: with cosine >= ``threshold`` (default 0.6) it counts in the cell (gold
  dimension, extracted dimension), otherwise as ``none`` (a cue with no gold counterpart); every gold cue that no
  extracted cue reaches is counted as missed (extracted ``none``).

The gold set shipped with the package (``fidelity_dev.jsonl``, 80 English descriptions written for this project in the
styles the metric meets: EMER annotations, EmoCue-Instruct rewrites, peer-model outputs, the demo model's phrasing and
free-form text) has a fixed split: every fourth record (0-based line index % 4 == 3) is ``held`` (20 records, kept
aside while the rules were tuned), the rest ``dev`` (60). Gold cues follow the paper's §V-A definition; the writing
conventions are in the metric card (``README.md``, "Extractor fidelity").

Usage::

    python -m emocue360.fidelity                          # rules extractor, dev and held halves, markdown tables
    python -m emocue360.fidelity --split dev --worst 5    # + the five worst descriptions with their cues
    python -m emocue360.fidelity --extractor rules --extractor openai --model deepseek-chat --base-url URL
    python -m emocue360.fidelity --json fidelity.json     # all figures as JSON
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .extractors import get_extractor
from .scoring import DIMENSIONS, encode_unique, filter_cues, load_encoder, score_cues

__all__ = ["DEFAULT_GOLD", "SPLITS", "load_gold", "confusion_table", "fidelity", "format_report", "main"]

DEFAULT_GOLD = Path(__file__).with_name("fidelity_dev.jsonl")
SPLITS = ("dev", "held")
_COLUMNS = (*DIMENSIONS, "none")


def load_gold(path: str | Path | None = None, split: str | None = None) -> list[dict]:
    """Read a gold file (JSON lines: ``id``, ``split``, ``text``, ``visual``, ``audio``, ``global``).

    ``split`` keeps the records of one split (``"dev"`` / ``"held"``); ``None`` or ``"all"`` keeps every record.
    A malformed file raises ``ValueError`` naming the file, the line and the problem.
    """
    p = Path(path) if path is not None else DEFAULT_GOLD
    if not p.is_file():
        raise FileNotFoundError(f"{p}: gold cue file not found")
    if split not in (None, "all", *SPLITS):
        raise ValueError(f"unknown split {split!r}; choose one of {['all', *SPLITS]}")
    from .jsonl import read_jsonl

    records, seen = [], set()
    for n, rec in read_jsonl(p, line_numbers=True):
        for key in ("id", "text"):
            if not isinstance(rec.get(key), str) or not rec[key].strip():
                raise ValueError(f"{p}:{n}: {key!r} must be a non-empty string")
        if rec["id"] in seen:
            raise ValueError(f"{p}:{n}: duplicate id {rec['id']!r}")
        seen.add(rec["id"])
        if rec.get("split", "dev") not in SPLITS:
            raise ValueError(f"{p}:{n}: split {rec.get('split')!r} is not one of {list(SPLITS)}")
        for d in DIMENSIONS:
            cues = rec.get(d, [])
            if not isinstance(cues, list) or not all(isinstance(c, str) and c.strip() for c in cues):
                raise ValueError(f"{p}:{n}: {d!r} must be a list of non-empty strings")
        records.append({"id": rec["id"], "split": rec.get("split", "dev"), "style": rec.get("style", ""),
                        "text": rec["text"], **{d: list(rec.get(d, [])) for d in DIMENSIONS}})
    if not records:
        raise ValueError(f"{p}: no gold records")
    if split in SPLITS:
        records = [r for r in records if r["split"] == split]
    return records


def confusion_table(predictions: Sequence[dict], golds: Sequence[dict], encoder: Any = None,
                    threshold: float = 0.6, drop_subtitle_cues: bool = False) -> dict[str, dict[str, int]]:
    """Counts ``table[gold_dim][extracted_dim]`` with ``none`` for unmatched cues (see the module docstring)."""
    if len(predictions) != len(golds):
        raise ValueError(f"got {len(predictions)} predictions but {len(golds)} gold records")
    enc = load_encoder(encoder)
    preds = [{d: filter_cues(p.get(d) or [], d, drop_subtitle_cues) for d in DIMENSIONS} for p in predictions]
    refs = [{d: filter_cues(g.get(d) or [], d, drop_subtitle_cues) for d in DIMENSIONS} for g in golds]
    index, emb = encode_unique((c for s in (*preds, *refs) for d in DIMENSIONS for c in s[d]), enc)
    table = {g: {e: 0 for e in _COLUMNS} for g in _COLUMNS}
    for p, r in zip(preds, refs):
        p_items = [(d, c) for d in DIMENSIONS for c in p[d]]
        r_items = [(d, c) for d in DIMENSIONS for c in r[d]]
        if not p_items and not r_items:
            continue
        if not p_items:
            for d, _ in r_items:
                table[d]["none"] += 1
            continue
        if not r_items:
            for d, _ in p_items:
                table["none"][d] += 1
            continue
        sim = emb[[index[c] for _, c in p_items]] @ emb[[index[c] for _, c in r_items]].T
        for i, (d, _) in enumerate(p_items):
            j = int(np.argmax(sim[i]))
            table[r_items[j][0] if sim[i, j] >= threshold else "none"][d] += 1
        for j, (d, _) in enumerate(r_items):
            if sim[:, j].max() < threshold:
                table[d]["none"] += 1
    return table


def fidelity(records: Sequence[dict], extractor: Any = "rules", encoder: Any = None, threshold: float = 0.6,
             drop_subtitle_cues: bool = False, progress: bool = False, **extractor_kwargs) -> dict:
    """Extract the cues of every record's text and compare them with its gold cues.

    Returns ``{"n", "extractor", "metrics": {d: {precision, recall, f1, support}}, "confusion", "per_sample",
    "seconds"}``; ``per_sample`` lists each record's extracted cues and per-dimension F1 (``None`` where skipped).
    """
    if not records:
        raise ValueError("fidelity needs at least one gold record")
    ext = get_extractor(extractor, **extractor_kwargs)
    t0 = time.perf_counter()
    preds = ext.extract([r["text"] for r in records], progress=progress)
    seconds = time.perf_counter() - t0
    golds = [{d: r[d] for d in DIMENSIONS} for r in records]
    scores = score_cues(preds, golds, encoder=encoder, drop_subtitle_cues=drop_subtitle_cues,
                        return_per_sample=True)
    metrics = {d: {m: scores[f"{d}_{m}"] for m in ("precision", "recall", "f1", "support")} for d in DIMENSIONS}
    per_sample = []
    for r, p, s in zip(records, preds, scores["per_sample"]):
        per_sample.append({"id": r["id"], "split": r["split"], "text": r["text"],
                           "extracted": {d: list(p.get(d) or []) for d in DIMENSIONS},
                           "gold": {d: r[d] for d in DIMENSIONS},
                           "f1": {d: s[f"{d}_f1"] for d in DIMENSIONS}})
    return {"n": len(records), "extractor": getattr(ext, "name", str(extractor)),
            "model": getattr(ext, "model", None), "metrics": metrics,
            "confusion": confusion_table(preds, golds, encoder, threshold, drop_subtitle_cues),
            "threshold": threshold, "per_sample": per_sample, "seconds": round(seconds, 3)}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def format_report(results: dict[str, dict], worst: int = 0) -> str:
    """Markdown: one P/R/F1 table over the given ``{label: fidelity(...)}`` results, then each confusion table."""
    lines = ["| extractor | split | n | " + " | ".join(f"{d} P / R / F1" for d in DIMENSIONS) + " |",
             "|---|---|---|" + "---|" * len(DIMENSIONS)]
    for label, res in results.items():
        cells = [" / ".join(_fmt(res["metrics"][d][m]) for m in ("precision", "recall", "f1")) for d in DIMENSIONS]
        lines.append(f"| {res['extractor']} | {label} | {res['n']} | " + " | ".join(cells) + " |")
    for label, res in results.items():
        conf = res["confusion"]
        lines += ["", f"Dimension assignments, {res['extractor']} on {label} (rows: dimension of the best-matching "
                      f"gold cue, cosine >= {res['threshold']}; columns: dimension the extractor chose; "
                      f"none = no match):", "",
                  "| gold \\ extracted | " + " | ".join(_COLUMNS) + " |", "|---|" + "---|" * len(_COLUMNS)]
        for g in _COLUMNS:
            lines.append(f"| {g} | " + " | ".join(str(conf[g][e]) for e in _COLUMNS) + " |")
        if worst:
            ranked = sorted(res["per_sample"], key=lambda s: min(v for v in s["f1"].values() if v is not None))
            lines += ["", f"Worst {worst} on {label}:"]
            for s in ranked[:worst]:
                lines.append(f"- {s['id']} (F1 " + ", ".join(f"{d} {_fmt(s['f1'][d])}" for d in DIMENSIONS)
                             + f"): {s['text']}")
                for d in DIMENSIONS:
                    lines.append(f"  - {d}: extracted {s['extracted'][d]} | gold {s['gold'][d]}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emocue360.fidelity",
                                     description="Per-dimension P/R/F1 of a cue extractor against gold cue lists.")
    parser.add_argument("--gold", default=None, help=f"gold JSON-lines file (default: {DEFAULT_GOLD.name})")
    parser.add_argument("--split", default="both", choices=["both", "all", *SPLITS],
                        help="which records: dev and held separately (both), all together, or one split")
    parser.add_argument("--extractor", action="append", choices=["rules", "openai", "hf"],
                        help="extractor(s) to measure (repeatable; default rules)")
    parser.add_argument("--model", help="LLM name (openai) or local model directory (hf)")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL)")
    parser.add_argument("--api-key", help="API key (default $OPENAI_API_KEY)")
    parser.add_argument("--template", type=int, default=1, help="extraction prompt template 1-5 (LLM extractors)")
    parser.add_argument("--cache-dir", help="extraction cache directory (LLM extractors)")
    parser.add_argument("--encoder", default=None, help="sentence encoder (default all-MiniLM-L6-v2, offline)")
    parser.add_argument("--threshold", type=float, default=0.6, help="cosine for a match in the confusion table")
    parser.add_argument("--preset", default="default", choices=["default", "official"],
                        help="official: drop subtitle-restating audio cues on both sides, as the authors' scorer")
    parser.add_argument("--worst", type=int, default=0, help="also list the N worst descriptions of each split")
    parser.add_argument("--json", help="write every figure (and the extracted cues) to this JSON file")
    args = parser.parse_args(argv)
    try:
        splits = list(SPLITS) if args.split == "both" else [args.split]
        data = {s: load_gold(args.gold, s) for s in splits}
        results: dict[str, dict] = {}
        for name in args.extractor or ["rules"]:
            kwargs = {} if name == "rules" else {"model": args.model, "base_url": args.base_url,
                                                 "api_key": args.api_key, "template": args.template,
                                                 "cache_dir": args.cache_dir}
            for s in splits:
                res = fidelity(data[s], extractor=name, encoder=args.encoder, threshold=args.threshold,
                               drop_subtitle_cues=args.preset == "official", **kwargs)
                results[s if len(args.extractor or ["rules"]) == 1 else f"{s} ({name})"] = res
    except (OSError, ValueError, TypeError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(results, worst=args.worst))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
