"""Robustness of EmoCue-360 (paper §VI-C, RQ2): prompt-template independence and text-style insensitivity.

(a) :func:`template_study` -- score the same predictions/references once per extraction prompt template (1-5) with
    an LLM extractor and report, for every P/R/F1 of every dimension, the standard deviation (population, ddof=0)
    and the range over the templates (Table III, Fig. 7).
(b) :func:`style_study` -- from a bank of visual/audio cues (each with a paraphrase) and emotions, synthesise
    ``n_pairs`` (50, as the paper) text pairs with one fixed sentence template and independently drawn random cues
    ("template pairs": the same style, different cues), and the same number of pairs that share their cues but differ
    in wording and sentence frame ("restyled pairs": paraphrased cues in another template). BLEU-1/4 and CIDEr reward
    the first; EmoCue-360 should reward the second (the paper's Fig. 6 contrast). EmoCue-360 is reported with the
    rules extractor (end to end) and with the known cue lists ("oracle" extraction). Writes a PNG and a JSON summary.

CLI::

    python -m emocue360.robustness --out DIR                       # style study (offline, rules extractor)
    python -m emocue360.robustness --out DIR --extractor openai --model deepseek-chat --base-url URL \\
        [--predictions P.jsonl --references R.jsonl]              # + template study with an LLM extractor
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .pipeline import compute_emocue360
from .prompts import template_ids
from .scoring import DIMENSIONS, score_cues
from .text_metrics import bleu_cider

__all__ = ["VISUAL_BANK", "AUDIO_BANK", "EMOTION_BANK", "synthesize_pairs", "style_study", "template_study",
           "plot_style", "plot_templates", "main"]

# (cue, paraphrase) -- this project's own bank
VISUAL_BANK = [
    ("furrowed brows", "knitted eyebrows"), ("a wide smile", "a broad grin"), ("tearful eyes", "eyes full of tears"),
    ("a lowered gaze", "eyes cast downward"), ("slumped shoulders", "drooping shoulders"),
    ("a clenched jaw", "a tightly set jaw"), ("raised eyebrows", "lifted brows"), ("a slow nod", "a gentle nod"),
    ("pursed lips", "tightly pressed lips"), ("crossed arms", "arms folded across the chest"),
    ("a trembling chin", "a quivering chin"), ("wide-open eyes", "eyes opened wide"),
    ("a tilted head", "head leaning to one side"), ("flushed cheeks", "reddened cheeks"),
]
AUDIO_BANK = [
    ("a trembling voice", "a shaky voice"), ("a loud voice", "a raised voice"), ("slow speech", "a slow speaking pace"),
    ("a high pitch", "a high-pitched voice"), ("a flat tone", "a monotone delivery"), ("a heavy sigh", "a deep sigh"),
    ("rapid speech", "a fast speaking rate"), ("soft whispering", "a quiet whisper"),
    ("a rising intonation", "an upward intonation"), ("light laughter", "a soft chuckle"),
    ("long pauses", "frequent hesitations"), ("a sharp tone", "a harsh tone"),
]
EMOTION_BANK = [
    ("happy", "joyful"), ("sad", "sorrowful"), ("angry", "furious"), ("anxious", "nervous"),
    ("surprised", "astonished"), ("disappointed", "let down"), ("calm", "relaxed"), ("frustrated", "exasperated"),
]

# The paper's setting: one template, cues inserted at random.
TEMPLATE = ("In the video, we can see {v0}, {v1}, and {v2}. In the audio, we can hear {a0}, and {a1}. "
            "Taken together, these cues suggest that the person feels {e}.")
# Other wordings and frames for the restyled pairs.
RESTYLED = [
    "From the footage: {v0}, {v1}, and {v2}. From the soundtrack: {a0}, and {a1}. In summary, the person is {e}.",
    "In the clip, {v0} can be seen, together with {v1}, and {v2}. In the recording, there is {a0}, along with {a1}. "
    "These observations indicate that the subject is {e}.",
    "Throughout the scene, the speaker displays {v0}, {v1}, and {v2}. In the audio track, {a0} and {a1} stand out. "
    "Overall, the speaker seems {e}.",
]


def _strip_article(cue: str) -> str:
    for art in ("a ", "an ", "the "):
        if cue.startswith(art):
            return cue[len(art):]
    return cue


def synthesize_pairs(n_pairs: int = 50, seed: int = 0, n_visual: int = 3, n_audio: int = 2) -> dict:
    """Deterministic synthetic pairs for the style study.

    Returns ``{"template": [...], "restyled": [...]}``; each item has ``prediction`` / ``reference`` texts and their
    known cue dicts ``prediction_cues`` / ``reference_cues``.
    """
    rng = random.Random(seed)

    def draw():
        v = rng.sample(range(len(VISUAL_BANK)), n_visual)
        a = rng.sample(range(len(AUDIO_BANK)), n_audio)
        e = rng.randrange(len(EMOTION_BANK))
        return v, a, e

    def fill(template, v, a, e, para: bool):
        j = 1 if para else 0
        vs = [VISUAL_BANK[i][j] for i in v]
        as_ = [AUDIO_BANK[i][j] for i in a]
        emo = EMOTION_BANK[e][j]
        text = template.format(**{f"v{k}": x for k, x in enumerate(vs)}, **{f"a{k}": x for k, x in enumerate(as_)},
                               e=emo)
        text = text[0].upper() + text[1:]
        cues = {"visual": [_strip_article(x) for x in vs], "audio": [_strip_article(x) for x in as_],
                "global": [emo]}
        return text, cues

    out: dict[str, list] = {"template": [], "restyled": []}
    for _ in range(n_pairs):  # same template, independent random cues
        (rt, rc), (pt, pc) = fill(TEMPLATE, *draw(), False), fill(TEMPLATE, *draw(), False)
        out["template"].append({"reference": rt, "prediction": pt, "reference_cues": rc, "prediction_cues": pc})
    for i in range(n_pairs):  # same cues, paraphrased, another template
        v, a, e = draw()
        rt, rc = fill(TEMPLATE, v, a, e, False)
        pt, pc = fill(RESTYLED[i % len(RESTYLED)], v, a, e, True)
        out["restyled"].append({"reference": rt, "prediction": pt, "reference_cues": rc, "prediction_cues": pc})
    return out


def _summary(row: dict) -> dict:
    keys = ["bleu_1", "bleu_4", "cider"] + [f"{d}_{m}" for d in DIMENSIONS for m in ("precision", "recall", "f1")]
    return {k: row[k] for k in keys + ["mean"] if k in row}


def style_study(n_pairs: int = 50, seed: int = 0, encoder: Any = None, extractor: Any = "rules",
                progress: bool = True, **extractor_kwargs) -> dict:
    """§VI-C2: conventional metrics vs EmoCue-360 on template pairs and restyled pairs (see module docstring)."""
    pairs = synthesize_pairs(n_pairs, seed)
    result: dict[str, Any] = {"n_pairs": n_pairs, "seed": seed, "extractor": extractor if isinstance(extractor, str)
                              else getattr(extractor, "name", "custom"), "conditions": {}}
    for cond, items in pairs.items():
        preds = [x["prediction"] for x in items]
        refs = [x["reference"] for x in items]
        row = bleu_cider(preds, refs)
        e2e = compute_emocue360(preds, refs, extractor=extractor, encoder=encoder, progress=progress,
                                **extractor_kwargs)
        oracle = score_cues([x["prediction_cues"] for x in items], [x["reference_cues"] for x in items],
                            encoder=encoder)
        result["conditions"][cond] = {
            "bleu_1": row["bleu_1"], "bleu_4": row["bleu_4"], "cider": row["cider"],
            "emocue360": _summary(e2e), "emocue360_oracle": _summary(oracle),
        }
    result["examples"] = {cond: items[0] for cond, items in pairs.items()}
    t, s = result["conditions"]["template"], result["conditions"]["restyled"]
    result["conventional_prefers_template_pairs"] = all(t[k] > s[k] for k in ("bleu_1", "bleu_4", "cider"))
    result["emocue360_prefers_restyled_pairs"] = s["emocue360"]["mean"] > t["emocue360"]["mean"]
    result["emocue360_oracle_prefers_restyled_pairs"] = s["emocue360_oracle"]["mean"] > t["emocue360_oracle"]["mean"]
    return result


def template_study(predictions: Sequence[Any], references: Sequence[Any], extractor: Any = "openai",
                   templates: Sequence[int] | None = None, progress: bool = True, **kwargs) -> dict:
    """§VI-C1: EmoCue-360 of the same data extracted with each prompt template; std (ddof=0) and range per value.

    ``kwargs`` go to :func:`emocue360.pipeline.compute_emocue360` (model, base_url, cache_dir, encoder, ...).
    """
    templates = list(templates or template_ids())
    per_template = {}
    for t in templates:
        r = compute_emocue360(predictions, references, extractor=extractor, template=t, progress=progress, **kwargs)
        per_template[t] = _summary(r)
    keys = [f"{d}_{m}" for d in DIMENSIONS for m in ("precision", "recall", "f1")]
    stats = {}
    for k in keys:
        vals = [per_template[t][k] for t in templates if per_template[t].get(k) is not None]
        if vals:
            stats[k] = {"std": float(np.std(vals)), "range": float(np.max(vals) - np.min(vals)),
                        "mean": float(np.mean(vals))}
    return {"templates": templates, "per_template": per_template, "stats": stats,
            "extractor": extractor if isinstance(extractor, str) else getattr(extractor, "name", "custom"),
            "n_samples": len(predictions)}


def plot_style(study: dict, path: str | Path) -> Path:
    """Grouped bars (Fig. 6 style): BLEU-1, BLEU-4, CIDEr/10 and EmoCue-360 F1s/Mean for the two conditions."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["BLEU-1", "BLEU-4", "CIDEr/10", "Vis F1", "Aud F1", "Glo F1", "Mean"]

    def values(c, which):
        e = c[which]
        return [c["bleu_1"], c["bleu_4"], c["cider"] / 10, e["visual_f1"], e["audio_f1"], e["global_f1"], e["mean"]]

    conds = study["conditions"]
    series = [
        ("template pairs (same style, random cues)", values(conds["template"], "emocue360"), "#d62728", None),
        ("restyled pairs (same cues, other words)", values(conds["restyled"], "emocue360"), "#1f77b4", None),
    ]
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.38
    for i, (name, vals, color, _) in enumerate(series):
        ax.bar(x + (i - 0.5) * width, vals, width, label=name, color=color)
    for cond, marker, color in (("template", "v", "#7f0000"), ("restyled", "^", "#08306b")):
        o = conds[cond]["emocue360_oracle"]
        xs = x[3:] + (-0.5 if cond == "template" else 0.5) * width
        ax.scatter(xs, [o["visual_f1"], o["audio_f1"], o["global_f1"], o["mean"]], marker=marker, color=color,
                   zorder=3, label=f"{cond}: oracle cues")
    ax.axvline(2.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, labels)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score")
    ax.set_title(f"Style insensitivity ({study['n_pairs']} pairs each; EmoCue-360 bars: {study['extractor']} "
                 f"extractor)")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_templates(study: dict, path: str | Path) -> Path:
    """Fig. 7 style: P/R/F1 per dimension across the prompt templates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ts = study["templates"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3), sharey=True)
    for ax, d in zip(axes, DIMENSIONS):
        for m in ("precision", "recall", "f1"):
            vals = [study["per_template"][t].get(f"{d}_{m}") for t in ts]
            ax.plot(ts, [np.nan if v is None else v for v in vals], marker="o", label=m)
        ax.set_title(d)
        ax.set_xticks(ts)
        ax.set_xlabel("template")
    axes[0].set_ylabel("score")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _read_jsonl_texts(path: str) -> list:
    from .jsonl import read_jsonl

    return [rec.get("cues") or rec.get("description") or rec.get("text") for rec in read_jsonl(path)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m emocue360.robustness",
                                     description="EmoCue-360 robustness study (XEmoGPT §VI-C)")
    parser.add_argument("--out", required=True, help="output directory (JSON summaries and PNG plots)")
    parser.add_argument("--pairs", type=int, default=50, help="synthesised pairs per condition (paper: 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--encoder", default=None, help="sentence encoder (default all-MiniLM-L6-v2)")
    parser.add_argument("--extractor", default="rules", choices=["rules", "openai", "hf"],
                        help="extractor; an LLM one also runs the five-template study")
    parser.add_argument("--model", default=None)
    parser.add_argument("--base-url", default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--max-workers", type=int, default=None)
    parser.add_argument("--predictions", default=None, help="JSONL (id + description) for the template study")
    parser.add_argument("--references", default=None, help="JSONL (id + description) for the template study")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    llm_kwargs = {k: v for k, v in {"model": args.model, "base_url": args.base_url, "cache_dir": args.cache_dir,
                                     "max_workers": args.max_workers}.items() if v is not None}

    style = style_study(args.pairs, args.seed, encoder=args.encoder, extractor=args.extractor,
                        **(llm_kwargs if args.extractor != "rules" else {}))
    (out / "style_study.json").write_text(json.dumps(style, indent=2), encoding="utf-8")
    plot_style(style, out / "style_study.png")
    print(f"style study -> {out / 'style_study.json'}, {out / 'style_study.png'}")
    for cond, c in style["conditions"].items():
        print(f"  {cond:9s} BLEU-1 {c['bleu_1']:.3f} BLEU-4 {c['bleu_4']:.3f} CIDEr {c['cider']:.3f} | "
              f"EmoCue-360 mean {c['emocue360']['mean']:.3f} (oracle cues {c['emocue360_oracle']['mean']:.3f})")

    if args.extractor == "rules":
        print("template study skipped: it needs an LLM extractor (--extractor openai|hf); the rules extractor has "
              "no prompt")
        return 0
    if args.predictions and args.references:
        preds, refs = _read_jsonl_texts(args.predictions), _read_jsonl_texts(args.references)
    else:  # the synthetic restyled pairs as a stand-in corpus
        pairs = synthesize_pairs(args.pairs, args.seed)["restyled"]
        preds, refs = [p["prediction"] for p in pairs], [p["reference"] for p in pairs]
    study = template_study(preds, refs, extractor=args.extractor, encoder=args.encoder, **llm_kwargs)
    (out / "template_study.json").write_text(json.dumps(study, indent=2), encoding="utf-8")
    plot_templates(study, out / "template_study.png")
    print(f"template study -> {out / 'template_study.json'}")
    for k, s in study["stats"].items():
        print(f"  {k:18s} std {1e3 * s['std']:.1f}e-3  range {1e3 * s['range']:.1f}e-3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
