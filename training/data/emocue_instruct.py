"""EmoCue-Instruct and EmoCue-ShortCaption construction (paper §IV) and the expert-scoring sheets of §VI-F (Fig. 10).

Pipeline (model-led, human-assisted):

1. **Cue inference** -- for every record, a chat model is given the clip's description, subtitle and emotion label
   and asked for modality-specific cues (``visual`` / ``audio`` / ``global``). The paper prompts MLLMs that watch the
   clip; here the model reads the clip's text, so any local ``transformers`` chat model or OpenAI-compatible
   endpoint works.
2. **Consolidation** -- a second pass (deepseek-chat in the paper) merges the candidate cues with the description
   into consistent cue lists and a rewritten description.
3. **Expert check** -- :func:`export_sheet` draws a random sample (300 in the paper) into a CSV with the original
   (MER-Caption+) description, the new annotation and empty 1-5 score columns ``visual``, ``audio``, ``global``;
   :func:`aggregate_sheets` reads the experts' returned sheets and writes the Fig. 10 summary (per-dimension
   mean / std / histogram of the expert-averaged scores) as JSON and PNG.

ShortCaption generation (:func:`run_short_caption`) is one pass of the same kind.

Backends are the project's LLM client (:mod:`llm_client`: ``backend.chat_json(messages) -> dict`` and
``chat_json_many``) and every call goes through :func:`emocue360.cache.cached_chat_json`: each reply is validated,
then flushed to ``cache_dir/entries.jsonl`` as it arrives. A run that stops (Ctrl-C, endpoint down, crash) keeps all
finished calls; running the same command again sends only the missing ones. Items that still fail are reported,
left out of the output, and retried on the next run.
"""

from __future__ import annotations

import copy
import csv
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from emocue360.extractors import normalize_cues

from . import prompts_instruct as P

from processing_xemogpt.vocabulary import CUE_DIMENSIONS as CUE_KEYS

SCORE_COLUMNS = CUE_KEYS


# ------------------------------------------------------------------------------------------------------------------
# reply validation
# ------------------------------------------------------------------------------------------------------------------
def normalise_cues(reply: dict, modality: str = "multimodal") -> dict[str, list[str]]:
    """``{"visual": [...], "audio": [...], "global": [...]}`` from a model reply; tolerant of key aliases.

    Keys, aliases and items are read by EmoCue-360's normaliser (:func:`emocue360.extractors.normalize_cues`, the
    project's one alias table), with ``;``-separated strings split and repeats dropped; a reply may wrap the lists
    in ``"cues"``. Cues of a modality the clip lacks are dropped. Raises ValueError when the reply holds no cue.
    """
    if not isinstance(reply, dict):
        raise ValueError(f"reply is {type(reply).__name__}, not a JSON object")
    src = reply.get("cues") if isinstance(reply.get("cues"), dict) else reply
    cues = normalize_cues(src, split_strings=True, dedupe=True)
    if modality == "visual":
        cues["audio"] = []
    elif modality == "audio":
        cues["visual"] = []
    if not any(cues.values()):
        raise ValueError(f"reply has no cues (keys: {', '.join(map(str, src.keys())) or 'none'})")
    return cues


def normalise_consolidated(reply: dict, modality: str = "multimodal") -> dict:
    cues = normalise_cues(reply, modality)
    desc = reply.get("description") or reply.get("rewritten_description") or reply.get("explanation")
    if not isinstance(desc, str) or not desc.strip():
        raise ValueError("consolidation reply has no non-empty \"description\"")
    return {"cues": cues, "description": " ".join(desc.split())}


def normalise_short(reply: dict) -> dict:
    cap = reply.get("short_caption") or reply.get("caption") or reply.get("short")
    if isinstance(cap, list):
        cap = ", ".join(" ".join(str(c).split()) for c in cap if c is not None and str(c).strip())
    if not isinstance(cap, str) or not cap.strip():
        raise ValueError("reply has no non-empty \"short_caption\"")
    return {"short_caption": " ".join(cap.split())}


# ------------------------------------------------------------------------------------------------------------------
# pipeline
# ------------------------------------------------------------------------------------------------------------------
@dataclass
class StageReport:
    name: str
    total: int = 0
    cached: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        s = f"{self.name}: {self.total} items, {self.cached} cached, {self.sent} sent, {self.failed} failed"
        if self.errors:
            s += f" (first error: {self.errors[0]})"
        return s


@dataclass
class PipelineResult:
    records: list[dict]
    failed_ids: list[str]
    stages: list[StageReport]
    references: list[dict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.failed_ids

    def summary(self) -> str:
        lines = [s.line() for s in self.stages]
        lines.append(f"{len(self.records)} records written, {len(self.failed_ids)} failed"
                     + ("" if self.complete else " (run the same command again to retry them; finished calls are "
                        "cached)"))
        return "\n".join(lines)


def _backend_id(backend) -> dict:
    return {"backend": getattr(backend, "name", type(backend).__name__), "model": getattr(backend, "model", "")}


def _record_key_parts(record: dict) -> dict:
    return {k: record.get(k) or "" for k in ("id", "description", "subtitle", "emotion", "modality")}


def _run_stage(name, backend, cache, records, messages_fn, postprocess_fn, max_workers, progress):
    """One cached pass over ``records``: ``(values, report)``, values aligned with records (Exception = failed)."""
    from emocue360.cache import make_key

    report = StageReport(name, total=len(records))
    convs, keys, meta = [], [], []
    template = P.template_fingerprint()
    for r in records:
        conv = messages_fn(r)
        convs.append(conv)
        # keyed by task + prompts + backend/model + the clip's text + the exact user turn (stage 2: the candidates)
        keys.append(make_key(task=name, template=template, **_backend_id(backend), record=_record_key_parts(r),
                             extra=conv[-1]["content"]))
        meta.append({"task": name, "id": r.get("id")})
    report.cached = sum(1 for k in keys if cache is not None and k in cache)
    report.sent = len(keys) - report.cached
    # the validators need the record (its modality), so the postprocess is bound per item
    post = {i: (lambda rec: (lambda reply: postprocess_fn(reply, rec)))(records[i]) for i in range(len(records))}
    values = _cached_with_item_post(backend, convs, cache, keys, post, meta, max_workers, progress)
    for r, v in zip(records, values):
        if isinstance(v, Exception):
            report.failed += 1
            if len(report.errors) < 3:
                report.errors.append(f"{r.get('id')}: {str(v).splitlines()[0] if str(v) else type(v).__name__}")
    return values, report


def _cached_with_item_post(backend, convs, cache, keys, post, meta, max_workers, progress):
    """:func:`emocue360.cache.cached_chat_json` with a per-item postprocess (the validators need the modality)."""
    from emocue360.cache import cached_chat_json

    class _Indexed:
        """Adapter that remembers which original item each sent conversation belongs to."""

        def __init__(self):
            self.name = getattr(backend, "name", "backend")
            self.model = getattr(backend, "model", "")

        def chat_json_many(self, conversations, max_workers=None, progress=True, on_result=None):
            todo = [i for i, k in enumerate(keys) if not (cache is not None and k in cache)]

            def wrapped(j, value):
                i = todo[j]
                if not isinstance(value, Exception):
                    try:
                        value = post[i](value)
                    except Exception as exc:  # validation failure counts as the item's error (not cached)
                        value = exc
                if on_result is not None:
                    on_result(j, value)

            return backend.chat_json_many(conversations, max_workers=max_workers, progress=progress,
                                          on_result=wrapped)

    return cached_chat_json(_Indexed(), convs, cache, keys, max_workers=max_workers, progress=progress,
                            postprocess=None, meta=meta)


def run_emocue_instruct(records: Sequence[dict], backend, cache=None, consolidate_backend=None,
                        max_workers: int | None = None, progress: bool = True) -> PipelineResult:
    """Stages 1 and 2 of §IV on ``records``; returns the rewritten records (same ids, new cues and description).

    ``cache`` is an :class:`emocue360.cache.JSONCache` (``None`` = no caching, not resumable).
    ``consolidate_backend`` defaults to ``backend``. Records whose calls failed are listed in ``failed_ids``.
    """
    records = [dict(r) for r in records]
    _check_ids(records)
    consolidate_backend = consolidate_backend or backend
    s1, rep1 = _run_stage("emocue-instruct/cues", backend, cache, records, P.stage1_messages,
                          lambda reply, rec: normalise_cues(reply, rec.get("modality") or "multimodal"),
                          max_workers, progress)
    ok = [(r, v) for r, v in zip(records, s1) if not isinstance(v, Exception)]
    failed = [r["id"] for r, v in zip(records, s1) if isinstance(v, Exception)]

    wrapped = [{**r, "_candidate": v} for r, v in ok]
    s2, rep2 = _run_stage("emocue-instruct/consolidate", consolidate_backend, cache, wrapped,
                          lambda r: P.stage2_messages(r, r["_candidate"]),
                          lambda reply, rec: normalise_consolidated(reply, rec.get("modality") or "multimodal"),
                          max_workers, progress)
    out, refs = [], []
    for r, v in zip(wrapped, s2):
        r.pop("_candidate", None)
        if isinstance(v, Exception):
            failed.append(r["id"])
            continue
        new = copy.deepcopy(r)
        new["cues"] = v["cues"]
        new["description"] = v["description"]
        out.append(new)
        refs.append({"id": r["id"], "description": r.get("description") or "", "cues": r.get("cues") or {}})
    return PipelineResult(records=out, failed_ids=failed, stages=[rep1, rep2], references=refs)


def run_short_caption(records: Sequence[dict], backend, cache=None, max_workers: int | None = None,
                      progress: bool = True) -> PipelineResult:
    """EmoCue-ShortCaption: fill ``short_caption`` of every record with one cached model call."""
    records = [dict(r) for r in records]
    _check_ids(records)
    vals, rep = _run_stage("emocue-shortcaption", backend, cache, records, P.short_caption_messages,
                           lambda reply, rec: normalise_short(reply), max_workers, progress)
    out, failed = [], []
    for r, v in zip(records, vals):
        if isinstance(v, Exception):
            failed.append(r["id"])
            continue
        out.append({**r, "short_caption": v["short_caption"]})
    return PipelineResult(records=out, failed_ids=failed, stages=[rep])


def _check_ids(records):
    seen = set()
    for i, r in enumerate(records):
        rid = r.get("id")
        if not rid:
            raise ValueError(f"record {i} has no id")
        if rid in seen:
            raise ValueError(f"duplicate record id {rid!r}")
        seen.add(rid)


# ------------------------------------------------------------------------------------------------------------------
# expert scoring sheets (§VI-F, Fig. 10)
# ------------------------------------------------------------------------------------------------------------------
SHEET_COLUMNS = ("id", "emotion", "subtitle", "reference_description", "emocue_visual_cues", "emocue_audio_cues",
                 "emocue_global_cues", "emocue_description", "visual", "audio", "global", "comment")


def export_sheet(records: Sequence[dict], references: dict[str, str] | Sequence[dict], out_csv: str | Path,
                 n: int = 300, seed: int = 0) -> Path:
    """Write a random sample of ``n`` records for expert scoring.

    ``references`` maps id -> the original (MER-Caption+) description, or is a list of ``{"id", "description"}``.
    Score columns ``visual``/``audio``/``global`` are left empty for 1-5 scores (1 = worse than the reference,
    3 = comparable, 5 = better). The file is UTF-8 with a BOM so spreadsheet programs show Chinese text correctly.
    """
    if not isinstance(references, dict):
        references = {r["id"]: r.get("description", "") for r in references}
    pool = [r for r in records if r.get("id") in references] or list(records)
    if not pool:
        raise ValueError("export_sheet: no records to sample")
    rng = random.Random(seed)
    sample = rng.sample(pool, min(n, len(pool)))
    out = Path(out_csv)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(SHEET_COLUMNS)
        for r in sample:
            cues = r.get("cues") or {}
            w.writerow([r["id"], r.get("emotion", ""), r.get("subtitle", ""), references.get(r["id"], ""),
                        "; ".join(cues.get("visual", [])), "; ".join(cues.get("audio", [])),
                        "; ".join(cues.get("global", [])), r.get("description", ""), "", "", "", ""])
    return out


def read_sheet(path: str | Path) -> dict[str, dict[str, float]]:
    """``{id: {"visual": s, "audio": s, "global": s}}`` from one returned sheet; blank cells are left out.

    Raises ValueError (file, line, column) for a score that is not a number from 1 to 5.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{p}: score sheet not found")
    with open(p, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        missing = [c for c in ("id",) + SCORE_COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{p}: score sheet lacks column(s) {', '.join(missing)}")
        out: dict[str, dict[str, float]] = {}
        for row in reader:
            row = {str(k).strip().lower(): v for k, v in row.items() if k is not None}
            rid = (row.get("id") or "").strip()
            if not rid:
                continue
            scores = {}
            for c in SCORE_COLUMNS:
                cell = (row.get(c) or "").strip()
                if not cell:
                    continue
                try:
                    val = float(cell)
                except ValueError:
                    val = math.nan
                if not (1 <= val <= 5):
                    raise ValueError(f"{p}: line {reader.line_num}, column {c}: score {cell!r} is not a number "
                                     "from 1 to 5")
                scores[c] = val
            out[rid] = scores
    return out


def aggregate_sheets(paths: Sequence[str | Path], out_dir: str | Path | None = None, bins: int = 9,
                     title: str = "EmoCue-Instruct expert scores") -> dict:
    """Fig. 10: average each sample's score over experts, then mean / std / histogram per dimension.

    Writes ``fig10_summary.json`` and ``fig10_scores.png`` into ``out_dir`` when given. Histogram bins span
    [1, 5] in ``bins`` equal-width bins.
    """
    if not paths:
        raise ValueError("aggregate_sheets: give at least one returned score sheet")
    sheets = [read_sheet(p) for p in paths]
    ids = sorted(set().union(*[s.keys() for s in sheets]))
    summary: dict[str, Any] = {"num_sheets": len(sheets), "num_samples": 0, "dimensions": {}}
    per_sample: dict[str, dict[str, float]] = {}
    for rid in ids:
        avg = {}
        for c in SCORE_COLUMNS:
            vals = [s[rid][c] for s in sheets if rid in s and c in s[rid]]
            if vals:
                avg[c] = sum(vals) / len(vals)
        if avg:
            per_sample[rid] = avg
    summary["num_samples"] = len(per_sample)
    edges = [1 + 4 * i / bins for i in range(bins + 1)]
    for c in SCORE_COLUMNS:
        vals = [v[c] for v in per_sample.values() if c in v]
        if vals:
            mean = sum(vals) / len(vals)
            std = math.sqrt(sum((x - mean) ** 2 for x in vals) / len(vals))
        else:
            mean = std = float("nan")
        counts = [0] * bins
        for x in vals:
            k = min(bins - 1, int((x - 1) / 4 * bins))
            counts[k] += 1
        summary["dimensions"][c] = {
            "n": len(vals), "mean": round(mean, 4) if vals else None, "std": round(std, 4) if vals else None,
            "histogram": {"edges": [round(e, 4) for e in edges], "counts": counts},
            "share_above_3": round(sum(1 for x in vals if x > 3) / len(vals), 4) if vals else None,
        }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "fig10_summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        _plot(summary, per_sample, out / "fig10_scores.png", edges, title)
        summary["files"] = {"json": str(out / "fig10_summary.json"), "png": str(out / "fig10_scores.png")}
    return summary


def _plot(summary, per_sample, path, edges, title):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
    names = {"visual": "Visual cues", "audio": "Audio cues", "global": "Global cues"}
    for ax, c in zip(axes, SCORE_COLUMNS):
        vals = [v[c] for v in per_sample.values() if c in v]
        ax.hist(vals, bins=edges, color="#4C72B0", edgecolor="white")
        d = summary["dimensions"][c]
        label = f"mean {d['mean']:.2f} ± {d['std']:.2f}" if d["n"] else "no scores"
        if d["n"]:
            ax.axvline(d["mean"], color="#C44E52", linestyle="--", linewidth=1.5)
        ax.set_title(f"{names[c]}\n{label}", fontsize=10)
        ax.set_xlabel("score (1 worse … 3 comparable … 5 better)")
        ax.set_xlim(1, 5)
    axes[0].set_ylabel("samples")
    fig.suptitle(f"{title} (n={summary['num_samples']}, {summary['num_sheets']} experts)", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
