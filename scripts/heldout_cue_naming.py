"""Cue naming of a trained checkpoint on a fresh held-out set of synthetic EmoCue clips, with the shuffled-media
controls (another clip's video; another clip's audio) beside it: the second yardstick of the perception issue,
next to the demo's own 40 held-out clips.

    .venv/bin/python scripts/heldout_cue_naming.py demo_output/checkpoint --n 200 --seed 2000 --out heldout200

Makes ``--n`` clips with ``--seed`` in ``OUT/clips`` (kept and reused), describes them greedily with the checkpoint
(:func:`xemogpt_cli.ablation.evaluate_variant`, the same scorer as ``xemogpt ablate``), and writes ``OUT/table.json``
and ``OUT/table.md`` (per-factor naming rates and emotion accuracy, in %).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from emocue360.scoring import load_encoder
    from training.data.cue_naming import swap_media
    from training.data.loaders import load_records
    from training.data.synthetic import make_synthetic
    from xemogpt_cli.ablation import AblationConfig, evaluate_variant
    from xemogpt_cli.demo_report import cue_table_markdown

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=2000)
    ap.add_argument("--out", default="heldout_cue_naming")
    ap.add_argument("--max-new-tokens", type=int, default=192)
    args = ap.parse_args(argv)
    out = Path(args.out)
    clips = out / "clips"
    if not (clips / "emocue.jsonl").is_file():
        make_synthetic(clips, args.n, args.seed)
    held = load_records(clips / "emocue.jsonl")
    cfg = AblationConfig(out=out, max_new_tokens=args.max_new_tokens, describe_batch_size=8)
    encoder = load_encoder()
    rows, t = {}, time.perf_counter()
    for name, records in (("trained", held), ("control: another clip's video", swap_media(held, "video", 0)),
                          ("control: another clip's audio", swap_media(held, "audio", 0))):
        result = evaluate_variant(Path(args.checkpoint), records, cfg, encoder)
        # the controls are scored against each clip's own cues (records keep their factors, only media move)
        rows[name] = result["cue_naming"]
        print(f"  {name}: cues named {100 * rows[name]['cue_accuracy']:.1f} %", flush=True)
    table = {"checkpoint": str(args.checkpoint), "n": len(held), "seed": args.seed, "cue_naming": rows,
             "seconds": time.perf_counter() - t}
    (out / "table.json").write_text(json.dumps(table, indent=2) + "\n")
    md = (f"{len(held)} held-out synthetic clips (seed {args.seed}), checkpoint {args.checkpoint}\n\n"
          + cue_table_markdown(rows) + "\n")
    (out / "table.md").write_text(md)
    print("\n" + md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
