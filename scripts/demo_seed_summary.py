"""Mean ± std over several `xemogpt demo` runs (one per seed) of the held-out cue naming, emotion accuracy and the
shuffled-media controls, from each run's ``report/table.json`` and ``report/summary.json``.

    .venv/bin/python scripts/demo_seed_summary.py demo_seed0 demo_seed1 demo_seed2 --out docs/results/demo_seeds

Writes ``OUT/table.json`` and ``OUT/table.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

FACTORS = ("brows", "head", "intonation", "loudness", "mouth", "pitch", "rhythm", "scene")


def _pm(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.1f} ± {100 * std:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="demo output folders")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    runs = []
    for folder in args.runs:
        table = json.loads((Path(folder) / "report" / "table.json").read_text())
        summary = json.loads((Path(folder) / "report" / "summary.json").read_text())
        runs.append({"folder": str(folder), "seed": summary["config"]["seed"], "num_heldout": table["num_heldout"],
                     "cue_naming": table["cue_naming"], "minutes": summary["timings_s"]["total"] / 60,
                     "stage_minutes": {k: v / 60 for k, v in summary["timings_s"].items()}})
    rows = [name for name in runs[0]["cue_naming"] if "untrained" not in name]
    lines = [f"`xemogpt demo` with seeds {', '.join(str(r['seed']) for r in runs)} (each: its own training clips and "
             f"{runs[0]['num_heldout']} held-out clips of seed + 1000, never used in training or tuning); "
             "% of held-out clips, mean ± std over the seeds.", "",
             "| Model | cues named | emotion correct | " + " | ".join(FACTORS) + " |",
             "|---|---:|---:|" + "---:|" * len(FACTORS)]
    out_rows = {}
    for name in rows:
        per = [r["cue_naming"][name] for r in runs]
        cells = [_pm([p["cue_accuracy"] for p in per]), _pm([p["emotion_accuracy"] for p in per])]
        cells += [_pm([p["per_factor"][f] for p in per]) for f in FACTORS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        out_rows[name] = per
    lines += ["", "Per seed (cues named / emotion correct / intonation, %; wall time):", ""]
    for r in runs:
        t = r["cue_naming"][rows[0]]
        lines.append(f"* seed {r['seed']}: {100 * t['cue_accuracy']:.1f} / {100 * t['emotion_accuracy']:.1f} / "
                     f"{100 * t['per_factor']['intonation']:.0f}; {r['minutes']:.1f} min")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
