"""``xemogpt demo --format json``: the JSON answer format beside the paper's free text, same data, bridges and schedule.

After the text demo (its finished steps are reused), stage 3 is trained once more from the same base and the same
stage-1/2 bridges with ``answer_format: json`` (answers ``{"visual", "audio", "global", "emotion",
"explanation"}`` built from the EmoCue records), exported to ``checkpoint_json`` (its ``config.json`` records
``answer_format: json``), and the held-out clips are described by it in a fresh process with ``xemogpt describe``
(``predictions_trained_json.jsonl``). ``report/json_vs_text.{md,json}`` compares the two models on:

* cue naming: the generator's phrasings of each clip's actual cues found in the explanation (both models), and in
  the JSON model's own cue lists;
* emotion accuracy: the emotion named last in the text (text model), the JSON answer's ``emotion`` (JSON model);
* EmoCue-360 with the **model's own cue lists** against the records' annotated cue lists (JSON model: no extractor),
  and with the **offline rules extractor** reading the explanation and the reference description (both models).
  Like with like: own cues meet annotated cues, extracted cues meet extracted cues (the synthetic records file the
  scene under ``global`` while the rules extractor files scene phrases under ``visual``). These are exactly the rows
  ``xemogpt eval predictions_*.jsonl data/heldout/emocue.jsonl`` prints.
"""

from __future__ import annotations

import json
from pathlib import Path

from training.data.loaders import load_records

from . import demo_pipeline as D
from . import recipe_runs

STAGE_DIR, CHECKPOINT = "stage3_sft_json", "checkpoint_json"


def train_json(cfg, base: Path) -> Path:
    """Stage 3 with JSON answers (same bridges and schedule as the text model), exported as a checkpoint."""
    recipe_runs.banner(1, 3, "json stage 3", f"instruction tuning with JSON answers, {cfg.stage3_steps} steps")
    D._stage(cfg, base, "stage3", cfg.stage3_steps, cfg.stage3_lr, cfg.stage3_batch_size,
             {**D.bridges(cfg), "answer_format": "json"}, out_name=STAGE_DIR)
    ckpt = D.step_export(cfg, base, STAGE_DIR, CHECKPOINT)
    recorded = json.loads((ckpt / "config.json").read_text()).get("answer_format")
    if recorded != "json":
        raise RuntimeError(f"{ckpt}/config.json records answer_format {recorded!r}, expected 'json'")
    return ckpt


def rows(records: list[dict], text_rows: list[dict], json_rows: list[dict], encoder=None) -> dict:
    """The comparison figures (see the module docstring) of the text and the JSON model on ``records``."""
    from emocue360.report import like_with_like, score_all
    from training.data.cue_naming import cue_accuracy

    kwargs = {"extractor": "rules", "progress": False, **({"encoder": encoder} if encoder is not None else {})}
    refs = [r["description"] for r in records]
    by_id = {name: {str(p["id"]): p for p in preds} for name, preds in (("text", text_rows), ("json", json_rows))}
    text = [by_id["text"][str(r["id"])] for r in records]
    js = [by_id["json"][str(r["id"])] for r in records]
    out = {}
    for name, preds in (("text", text), ("json", js)):
        explained = [p.get("explanation") or "" for p in preds]
        own_emotions = [p.get("emotion") for p in preds] if name == "json" else None
        row = {"answer_format": name, "num_samples": len(preds),
               "cue_naming_explanation": cue_accuracy(explained, records, own_emotions),
               "emocue360_extractor": score_all(explained, refs, **kwargs),
               "invalid_json": sum(bool(p.get("invalid_json")) for p in preds),
               "truncated": sum(bool(p.get("truncated")) for p in preds),
               "failed": sum(bool(p.get("error")) for p in preds)}
        if name == "json":
            listed = [", ".join(c for k in ("visual", "audio", "global") for c in (p.get("cues") or {}).get(k, []))
                      for p in preds]
            row["cue_naming_cue_lists"] = cue_accuracy(listed, records, own_emotions)
            # the predictions file as `xemogpt eval` reads it: own cue lists against the records' cue lists (an
            # invalid JSON answer has none: eval falls back to extracting from its raw text, like with like)
            row["emocue360_own_cues"] = score_all(preds, [like_with_like(p, r) for p, r in zip(preds, records)],
                                                  **kwargs)
        out[name] = row
    return out


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def table_markdown(result: dict, cfg) -> str:
    head = ("| answer format | cues named (explanation) | cues named (own cue lists) | emotion correct | "
            "EmoCue-360 own cues: Vis/Aud/Glo F1, mean | EmoCue-360 rules extractor: Vis/Aud/Glo F1, mean | "
            "invalid JSON | cut at token limit |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|"]

    def emo(scores):
        if scores is None:
            return "-"
        return " / ".join(_pct(scores[f"{d}_f1"]) for d in ("visual", "audio", "global")) + f", {_pct(scores['mean'])}"

    for name, row in result["rows"].items():
        lists = row.get("cue_naming_cue_lists")
        lines.append(f"| {name} | {_pct(row['cue_naming_explanation']['cue_accuracy'])} | "
                     f"{_pct(lists['cue_accuracy']) if lists else '-'} | "
                     f"{_pct(row['cue_naming_explanation']['emotion_accuracy'])} | "
                     f"{emo(row.get('emocue360_own_cues'))} | {emo(row['emocue360_extractor'])} | "
                     f"{row['invalid_json'] if name == 'json' else '-'} | {row['truncated']} |")
    return (f"Held-out synthetic EmoCue clips: {result['num_heldout']}; both models: {cfg.n_train} training clips, "
            f"stage 3 {cfg.stage3_steps} steps from the same stage-1/2 bridges, seed {cfg.seed}. Percentages.\n\n"
            + "\n".join(lines) + "\n")


def run_json_comparison(cfg, base: Path, text_rows: list[dict]) -> dict:
    """Train and describe with the JSON format, then write ``report/json_vs_text.{md,json}``."""
    from . import demo_report as R

    ckpt = train_json(cfg, base)
    recipe_runs.banner(2, 3, "json describe", "held-out clips, the JSON checkpoint loaded in a fresh process")
    held = load_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    json_rows = D.describe_records(cfg, "trained_json", ckpt, "heldout", held, cfg.json_max_new_tokens)
    recipe_runs.banner(3, 3, "json vs text", f"comparison in {cfg.out / 'report' / 'json_vs_text.md'}")
    result = {"rows": rows(held, text_rows, json_rows), "num_heldout": len(held),
              "checkpoints": {"text": str(cfg.out / "checkpoint"), "json": str(ckpt)}}
    report = cfg.out / "report"
    report.mkdir(parents=True, exist_ok=True)
    R.write_json(report / "json_vs_text.json", result)
    markdown = table_markdown(result, cfg)
    (report / "json_vs_text.md").write_text(markdown)
    print("\n" + markdown, flush=True)
    return result
