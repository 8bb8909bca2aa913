"""``xemogpt eval PREDICTIONS REFERENCES``: BLEU-1/4, CIDEr and EmoCue-360 as one Table II row.

Both files are JSON Lines, one object per line with ``id`` and a text (``description``, ``text``, ``explanation``:
the predictions file of ``xemogpt describe`` / ``xemogpt demo``, see :mod:`xemogpt_cli.predictions`) and/or ``cues``
(``{"visual": [...], "audio": [...], "global": [...]}``). Predictions are matched to references by ``id``; when a
record has cues they are scored as they are (no extraction) and its text feeds BLEU/CIDEr only.

Like with like (:func:`emocue360.report.like_with_like`): a prediction without cues of its own (free text) is scored
against the reference's text, both read by the same extractor, even when the reference also has annotated cue lists;
a prediction with its own cue lists (a JSON-format model) is scored against the reference's cue lists. Predictions
whose clip failed (``error``) are refused unless ``--skip-failed`` leaves them (and their references) out.

Grounding: when the references carry per-cue spans (``spans``, ``training/data/spans.py``), the mean temporal IoU of
the matched cues and the share with IoU >= 0.5 are added (:mod:`emocue360.grounding`; a line under the table, keys
``grounding_*`` in ``--json``). Cues are matched with the EmoCue-360 encoder (``--encoder``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from processing_xemogpt.vocabulary import CUE_DIMENSIONS

__all__ = ["add_parser", "run", "read_jsonl", "pair_by_id", "drop_failed"]


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score predictions against references (BLEU-1/4, CIDEr, EmoCue-360)",
        description="Score generated emotional descriptions against references with BLEU-1/4, CIDEr and EmoCue-360 "
                    "(XEmoGPT §V) and print one Table II-style row. Inputs: JSONL files with `id` and `description` "
                    "(or `text`) and/or `cues`, matched by `id`.",
    )
    p.add_argument("predictions", help="JSONL file of model outputs")
    p.add_argument("references", help="JSONL file of reference descriptions/cues")
    p.add_argument("--json", action="store_true", help="print a JSON object instead of a Markdown table")
    p.add_argument("--name", default=None, help="row label (default: the predictions file name)")
    p.add_argument("--extractor", default="rules", choices=["rules", "openai", "hf"],
                   help="cue extractor for free-text records (default: rules, offline)")
    p.add_argument("--model", default=None, help="LLM for --extractor openai (default deepseek-chat) or hf (path/id)")
    p.add_argument("--template", type=int, default=None, choices=[1, 2, 3, 4, 5], help="extraction prompt template")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible API root (default $OPENAI_BASE_URL)")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY",
                   help="environment variable holding the API key (default OPENAI_API_KEY)")
    p.add_argument("--cache-dir", default=None, help="extraction cache (default $EMOCUE360_CACHE or $HF_HOME/emocue360)")
    p.add_argument("--max-workers", type=int, default=None, help="concurrent LLM requests")
    p.add_argument("--timeout", type=float, default=None, help="seconds per LLM request")
    p.add_argument("--max-retries", type=int, default=None, help="retries on 429/5xx/timeouts")
    p.add_argument("--encoder", default=None, help="sentence-transformers name or path (default all-MiniLM-L6-v2)")
    p.add_argument("--device", default=None, help="encoder / hf-model device (default cpu)")
    p.add_argument("--batch-size", type=int, default=128, help="encoder batch size")
    p.add_argument("--preset", default="default", choices=["default", "official"],
                   help="official = the authors' scorer (drops audio cues that restate the subtitle)")
    p.add_argument("--fractions", action="store_true", help="print EmoCue-360 as fractions instead of x100")
    p.add_argument("--per-sample", metavar="FILE", default=None,
                   help="also write per-sample scores and extracted cues to this JSONL file")
    p.add_argument("--skip-failed", action="store_true",
                   help="leave out predictions whose clip could not be described ('error'), and their references")
    p.set_defaults(func=run)


def read_jsonl(path: str) -> list[dict]:
    """Prediction / reference records of a JSONL file, each with an ``id`` and a text or cues; errors name the file
    and line."""
    from emocue360.jsonl import read_jsonl as read_lines

    from emocue360.report import TEXT_KEYS

    records = read_lines(path)
    for n, obj in enumerate(records, 1):
        if "id" not in obj:
            raise ValueError(f"{path}: record has no 'id' (record #{n})")
        if not obj.get("error") and not any(obj.get(k) is not None for k in (*TEXT_KEYS, "cues")):
            raise ValueError(f"{path}: record {obj['id']!r} needs 'description', 'text', 'explanation' or 'cues'")
    if not records:
        raise ValueError(f"{path}: no records")
    return records


def drop_failed(preds: list[dict], refs: list[dict], ids: list, path: str, skip: bool) -> tuple[list, list, list]:
    """Pairs whose prediction has no ``error``; failed ones are an error unless ``skip`` (then a note on stderr)."""
    failed = [i for i, p in enumerate(preds) if p.get("error")]
    if not failed:
        return ids, preds, refs
    first = preds[failed[0]]
    if not skip:
        raise ValueError(f"{path}: {len(failed)} prediction(s) failed when described "
                         f"({_ids_preview(ids[i] for i in failed)}; first: {first['error']}); rerun `xemogpt "
                         "describe` with the same --out to retry them, or pass --skip-failed")
    import sys

    print(f"xemogpt eval: note: left out {len(failed)} failed prediction(s) and their references: "
          f"{_ids_preview(ids[i] for i in failed)}", file=sys.stderr)
    keep = [i for i in range(len(ids)) if i not in set(failed)]
    return [ids[i] for i in keep], [preds[i] for i in keep], [refs[i] for i in keep]


def drop_label_only(ids: list, preds: list, refs: list, path: str) -> tuple[list, list, list]:
    """Pairs whose reference has a text or cues; label-only references (an emotion, no description, no cues: stage 4's
    label data) have nothing to score a description against and are left out with a note (all of them: an error)."""
    from emocue360.report import TEXT_KEYS

    def label_only(ref: dict) -> bool:
        cues = ref.get("cues")
        return bool(ref.get("emotion")) and not any(str(ref.get(k) or "").strip() for k in TEXT_KEYS) and not (
            isinstance(cues, dict) and any(cues.get(d) for d in CUE_DIMENSIONS))

    keep = [i for i, r in enumerate(refs) if not label_only(r)]
    if len(keep) == len(refs):
        return ids, preds, refs
    if not keep:
        raise ValueError(f"{path}: every reference is label-only (an emotion, no description or cues): there is no "
                         "text to score the predictions against")
    import sys

    left = [ids[i] for i in range(len(ids)) if i not in set(keep)]
    print(f"xemogpt eval: note: left out {len(left)} label-only reference(s) (emotion, no description or cues): "
          f"{_ids_preview(left)}", file=sys.stderr)
    return [ids[i] for i in keep], [preds[i] for i in keep], [refs[i] for i in keep]


def _ids_preview(ids) -> str:
    ids = sorted(map(str, ids))
    return ", ".join(ids[:10]) + (f" … (+{len(ids) - 10} more)" if len(ids) > 10 else "")


def pair_by_id(predictions: list[dict], references: list[dict], pred_path: str = "predictions",
               ref_path: str = "references") -> tuple[list, list, list]:
    """Match records by ``id`` (reference order). Raises one ValueError listing missing/duplicate ids."""
    def index(records, path):
        out, dup = {}, []
        for r in records:
            key = str(r["id"])
            if key in out:
                dup.append(key)
            out[key] = r
        if dup:
            raise ValueError(f"{path}: duplicate ids: {_ids_preview(set(dup))}")
        return out

    preds, refs = index(predictions, pred_path), index(references, ref_path)
    missing = [k for k in refs if k not in preds]
    extra = [k for k in preds if k not in refs]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{len(missing)} reference id(s) have no prediction in {pred_path}: {_ids_preview(missing)}")
        if extra:
            parts.append(f"{len(extra)} prediction id(s) are not in {ref_path}: {_ids_preview(extra)}")
        raise ValueError("; ".join(parts))
    ids = list(refs)
    return ids, [preds[k] for k in ids], [refs[k] for k in ids]


def run(args) -> int:
    from emocue360.extractors import ExtractionError
    from emocue360.grounding import grounding_line, grounding_scores, has_reference_spans
    from llm_client import BackendError
    from emocue360.report import format_table, score_all

    from .main import CLIError

    from emocue360.report import like_with_like

    ids, preds, refs = pair_by_id(read_jsonl(args.predictions), read_jsonl(args.references),
                                  args.predictions, args.references)
    ids, preds, refs = drop_failed(preds, refs, ids, args.predictions, args.skip_failed)
    if not ids:
        raise ValueError(f"{args.predictions}: no prediction left to score")
    ids, preds, refs = drop_label_only(ids, preds, refs, args.references)
    refs = [like_with_like(p, r) for p, r in zip(preds, refs)]
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    try:
        result = score_all(
            preds, refs, extractor=args.extractor, model=args.model, template=args.template,
            base_url=args.base_url, api_key=api_key, cache_dir=args.cache_dir, max_workers=args.max_workers,
            timeout=args.timeout, max_retries=args.max_retries, encoder=args.encoder, device=args.device,
            batch_size=args.batch_size, preset=args.preset, return_per_sample=bool(args.per_sample),
            return_cues=bool(args.per_sample), progress=not args.json,
        )
    except (ExtractionError, BackendError) as exc:  # endpoint/model failures: one line; extractions stay cached
        raise CLIError(str(exc)) from None
    grounding = None
    if has_reference_spans(refs):  # references with per-cue spans: temporal IoU of the matched cues
        grounding = grounding_scores(preds, refs, encoder=args.encoder, device=args.device)
        result.update(grounding)
    if args.per_sample:
        per, cues = result.pop("per_sample"), result.pop("cues")
        with open(args.per_sample, "w", encoding="utf-8") as f:
            for i, key in enumerate(ids):
                f.write(json.dumps({"id": key, **per[i], "prediction_cues": cues["predictions"][i],
                                    "reference_cues": cues["references"][i]}, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        name = args.name or Path(args.predictions).stem
        print(format_table({name: result}, percent=not args.fractions))
        if grounding is not None:
            print(grounding_line(grounding))
    return 0
