"""``xemogpt rl-study --labels``: does stage 4 (GRPO) learn from emotion-label-only clips that SFT cannot use?

The corpora people have are many clips with an emotion label (DFEW, MAFW, MER2023-25, RAVDESS) and few with a written
explanation (EMER). This study asks, on the synthetic benchmark (:mod:`training.data.synthetic`, unchanged; the
label-only clips are its ``described_share=0`` records), for every seed:

* **(a) SFT, described**: stages 1-3 on a small described set (``n_train`` clips, default 200);
* **(b) (a) + SFT on labels**: stage 3 continued from (a) (a fresh LoRA adapter) on the described clips plus the
  ``n_labels`` label-only clips with templated answers ("Overall, the person is most likely X.",
  :func:`training.data.labels.templated_answer`) — the obvious baseline — for as long as (c) trains (its measured
  training time, at (a)'s measured speed), unless ``sft_labels_steps`` is given;
* **(c) (a) + GRPO on labels**: stage 4 from (a) on the label-only clips (emotion and format/length rewards: the cue
  rewards have no reference there), ``stage4_steps`` steps.

Each is evaluated on held-out *described* clips, greedy decoding: emotion accuracy, cues named (the generator's own
phrasings, :mod:`training.data.cue_naming`), EmoCue-360, explanation length and word-trigram variety; and on an
out-of-distribution split: held-out clips holding one of :data:`OOD_PAIRS`, pairs of cue values that no training
clip (described or label-only) holds — those training clips are left out of the training sets.

Outputs in ``out/``: ``table.json`` / ``table.md`` (mean ± std over seeds, the goal check and the wall time),
``examples.md``; finished runs keep markers, so a rerun continues (``--force`` redoes everything).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import recipe_runs
from .ablation import _mean_std, _pm, evaluate_variant
from .rl_study import CONTINUED, GRPO_SETTINGS, examples_text, per_factor_table, stage_bridges, text_shape

SYSTEMS = ("sft", "sft_labels", "grpo_labels")
LABELS = {"sft": "(a) SFT on the described clips", "sft_labels": "(b) (a) + SFT on label-only clips (templated)",
          "grpo_labels": "(c) (a) + GRPO on label-only clips"}
# cue-value pairs no training clip holds; held-out clips holding one form the out-of-distribution split
OOD_PAIRS: tuple = ((("mouth", "smile"), ("brows", "knitted")), (("mouth", "frown"), ("scene", "warm")),
                    (("mouth", "open"), ("loudness", "soft")))
GOAL = {"over_sft": 10.0, "over_sft_labels": 5.0, "cues_named_drop": 2.0, "words_drift": 0.15, "variety_drop": 0.03}


@dataclass
class LabelStudyConfig(recipe_runs.SeedStudyConfig):
    """Sizes, steps and seeds of the label-only study (``stage_overrides``: {"stage1": [...], "stage2": [...],
    "sft": [...], "sft_labels": [...], "grpo_labels": [...]})."""

    out: Path = Path("rl_labels_study_output")
    n_train: int = 200          # described clips, generated (those with an OOD pair are then left out)
    n_labels: int = 2000        # label-only clips, generated (likewise)
    n_heldout: int = 270        # held-out described clips: in-distribution (>= 200: 222) + the OOD split (48)
    stage1_steps: int = 150
    stage2_steps: int = 100
    stage3_steps: int = 300
    stage4_steps: int = 100
    sft_labels_steps: int | None = None  # None: as many as fit in (c)'s measured training time
    num_examples: int = 4

    AT_LEAST_ONE = (*recipe_runs.SeedStudyConfig.AT_LEAST_ONE, "stage4_steps", "n_labels")

    def __post_init__(self):
        self.out = Path(self.out).absolute()
        super().__post_init__()


# ------------------------------------------------------------------------------------------------------------ data
def has_ood_pair(record: dict, pairs=OOD_PAIRS) -> bool:
    """Whether a synthetic record's ground-truth factors hold one of the out-of-distribution cue pairs."""
    factors = record.get("factors") or {}
    return any(all(factors.get(f) == v for f, v in pair) for pair in pairs)


def _absolute(records: list[dict], folder: Path) -> list[dict]:
    return [{**r, **{c: str(folder / r[c]) if r.get(c) else None for c in ("video", "audio")}} for r in records]


def _write(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def make_data(cfg: LabelStudyConfig) -> dict:
    """Generate the described, label-only and held-out clips (the generator unchanged; label-only clips are its
    ``described_share=0`` records) and write the study's splits: ``train`` (described, no OOD pair), ``labels``
    (label-only, no OOD pair), ``sft_labels`` (``train`` + ``labels`` with templated answers), ``heldout``
    (in-distribution) and ``heldout_ood``."""
    from training.data.labels import templated_answer
    from training.data.synthetic import make_synthetic

    data = cfg.out / "data"
    marker = data / "SPLITS_DONE.json"
    sizes = {"n_train": cfg.n_train, "n_labels": cfg.n_labels, "n_heldout": cfg.n_heldout, "seed": cfg.data_seed}
    if recipe_runs.is_done(marker, cfg.force) and json.loads(marker.read_text()).get("sizes") == sizes:
        print(f"  data splits already in {data} (skipped)")
        return json.loads(marker.read_text())
    raw = {}
    for name, n, seed, share in (("described", cfg.n_train, cfg.data_seed, 1.0),
                                 ("labels", cfg.n_labels, cfg.data_seed + 500, 0.0),
                                 ("heldout", cfg.n_heldout, cfg.data_seed + 1000, 1.0)):
        folder = data / f"raw_{name}"
        t = time.perf_counter()
        make_synthetic(folder, n, seed, workers=cfg.workers, described_share=share)
        print(f"  {name}: {n} clips in {time.perf_counter() - t:.1f} s -> {folder}", flush=True)
        lines = (folder / "emocue.jsonl").read_text(encoding="utf-8").splitlines()
        raw[name] = _absolute([json.loads(line) for line in lines], folder)
    train = [r for r in raw["described"] if not has_ood_pair(r)]
    labels = [r for r in raw["labels"] if not has_ood_pair(r)]
    templated = [{**r, "description": templated_answer(r["emotion"])} for r in labels]
    splits = {"train": train, "labels": labels, "sft_labels": train + templated,
              "heldout": [r for r in raw["heldout"] if not has_ood_pair(r)],
              "heldout_ood": [r for r in raw["heldout"] if has_ood_pair(r)]}
    for name, floor in (("train", 1), ("labels", 1), ("heldout", 2), ("heldout_ood", 1)):
        if len(splits[name]) < floor:
            raise ValueError(f"the {name} split has {len(splits[name])} clip(s) once the OOD cue pairs are sorted out "
                             f"(need {floor}); raise --n-train / --n-labels / --n-heldout")
    for name, records in splits.items():
        _write(data / name / "emocue.jsonl", records)
    info = {"sizes": sizes, "counts": {k: len(v) for k, v in splits.items()},
            "ood_pairs": [[f"{f}={v}" for f, v in pair] for pair in OOD_PAIRS]}
    print(f"  splits: {info['counts']} (OOD pairs left out of training: {info['ood_pairs']})", flush=True)
    recipe_runs.mark_done(marker, info)
    return info


# ------------------------------------------------------------------------------------------------------------ runs
def _stage(cfg, seed, name, out_dir, steps, extra, base=None, stage=None) -> dict:
    return recipe_runs.study_stage(cfg, seed, name, out_dir, steps, extra, f"seed {seed} {name}", base=base,
                                   stage=stage or name)


def train_seed(cfg: LabelStudyConfig, seed: int) -> dict[str, dict]:
    """Stages 1-2, (a), (c) and (b) of one seed; returns each run's figures."""
    root, data = cfg.out / f"seed{seed}", cfg.out / "data"
    recipe_runs.save_base(root / "untrained", seed, towers_seed=cfg.seeds[0], force=cfg.force)
    runs = {"stage1": _stage(cfg, seed, "stage1", root / "stage1_vecb", cfg.stage1_steps, {}),
            "stage2": _stage(cfg, seed, "stage2", root / "stage2_aecb", cfg.stage2_steps, {})}
    runs["sft"] = _stage(cfg, seed, "sft", root / "sft", cfg.stage3_steps,
                         {**stage_bridges(root), "loss_before_after": False}, stage="stage3")
    merged = root / "sft" / "merged"
    runs["grpo_labels"] = _stage(cfg, seed, "grpo_labels", root / "grpo_labels", cfg.stage4_steps,
                                 {**GRPO_SETTINGS, "train_file": str(data / "labels" / "emocue.jsonl")},
                                 base=merged, stage="stage4")
    steps = cfg.sft_labels_steps
    if steps is None:  # (c)'s training time at (a)'s speed
        per_step = runs["sft"]["train_runtime_s"] / max(1, runs["sft"]["global_step"])
        steps = max(1, round(runs["grpo_labels"]["train_runtime_s"] / per_step))
    runs["sft_labels"] = _stage(cfg, seed, "sft_labels", root / "sft_labels", steps,
                                {**CONTINUED, "train_file": str(data / "sft_labels" / "emocue.jsonl")}, base=merged,
                                stage="stage3")
    return runs


def evaluate_seed(cfg: LabelStudyConfig, seed: int, held: dict[str, list[dict]], encoder) -> dict[str, dict]:
    """Every system of ``seed`` on the in-distribution and the OOD held-out clips."""
    root = cfg.out / f"seed{seed}"
    results = {}
    for system in SYSTEMS:
        results[system] = {}
        for split, records in held.items():
            path = root / f"eval_{system}_{split}.json"
            if recipe_runs.is_done(path, cfg.force):
                results[system][split] = json.loads(path.read_text())
                continue
            t = time.perf_counter()
            result = evaluate_variant(root / system / "merged", records, cfg, encoder)
            result.update(text_shape([p["prediction"] for p in result["predictions"]]))
            result["eval_seconds"] = time.perf_counter() - t
            recipe_runs.mark_done(path, result)
            results[system][split] = result
            naming = result["cue_naming"]
            print(f"  seed {seed} {system} {split}: emotion {100 * naming['emotion_accuracy']:.1f} %, cues named "
                  f"{100 * naming['cue_accuracy']:.1f} %, EmoCue-360 {100 * result['emocue360_mean']:.1f}, "
                  f"{result['mean_words']:.1f} words ({result['eval_seconds']:.0f} s)", flush=True)
    return results


# ------------------------------------------------------------------------------------------------------------ tables
def _figures(result: dict) -> dict:
    return {"emotion": result["cue_naming"]["emotion_accuracy"], "cues_named": result["cue_naming"]["cue_accuracy"],
            "emocue360": result["emocue360_mean"], "words": result["mean_words"],
            "variety": result["trigram_variety"]}


def aggregate(evals: dict, runs: dict) -> dict:
    """Mean ± std over seeds per system and split, the per-seed gains of (c), and the goal check."""
    per_seed = {s: {system: {split: _figures(evals[s][system][split]) for split in evals[s][system]}
                    for system in SYSTEMS} for s in evals}
    table = {}
    for system in SYSTEMS:
        row = {}
        for split in ("heldout", "heldout_ood"):
            for key in ("emotion", "cues_named", "emocue360", "words", "variety"):
                row[f"{split}_{key}"] = _mean_std([per_seed[s][system][split][key] for s in per_seed])
        row["per_factor"] = {f: _mean_std([evals[s][system]["heldout"]["cue_naming"]["per_factor"].get(f)
                                           for s in evals])
                             for f in sorted({f for s in evals
                                              for f in evals[s][system]["heldout"]["cue_naming"]["per_factor"]})}
        row["train_seconds"] = _mean_std([runs[s][system]["train_runtime_s"] for s in runs])
        row["train_steps"] = _mean_std([runs[s][system]["global_step"] for s in runs])
        table[system] = row

    def gain(key, other, split="heldout"):
        return _mean_std([per_seed[s]["grpo_labels"][split][key] - per_seed[s][other][split][key] for s in per_seed])

    gains = {f"{split}_{key}_over_{other}": gain(key, other, split) for split in ("heldout", "heldout_ood")
             for key in ("emotion", "cues_named") for other in ("sft", "sft_labels")}
    c, a = table["grpo_labels"], table["sft"]
    checks = {
        f"emotion (c) - (a) >= {GOAL['over_sft']:.0f} points": 100 * gains["heldout_emotion_over_sft"]["mean"]
        >= GOAL["over_sft"],
        f"emotion (c) - (b) >= {GOAL['over_sft_labels']:.0f} points": 100 * gains["heldout_emotion_over_sft_labels"][
            "mean"] >= GOAL["over_sft_labels"],
        f"cues named (c) >= (a) - {GOAL['cues_named_drop']:.0f} points": 100 * (
            c["heldout_cues_named"]["mean"] - a["heldout_cues_named"]["mean"]) >= -GOAL["cues_named_drop"],
        f"words within ±{100 * GOAL['words_drift']:.0f} % of (a)": abs(c["heldout_words"]["mean"] / max(
            a["heldout_words"]["mean"], 1e-9) - 1) <= GOAL["words_drift"],
        f"trigram variety >= (a) - {GOAL['variety_drop']}": c["heldout_variety"]["mean"]
        >= a["heldout_variety"]["mean"] - GOAL["variety_drop"],
    }
    return {"systems": table, "gains": gains, "per_seed": per_seed, "goal_checks": checks,
            "goal_met": all(checks.values())}


def table_markdown(tables: dict, cfg: LabelStudyConfig) -> str:
    rows, n = tables["systems"], tables["counts"]
    lines = [f"Held-out described synthetic clips, greedy decoding; mean ± std over seeds "
             f"{', '.join(map(str, cfg.seeds))}; rates in %. Training: {n['train']} described clips, {n['labels']} "
             f"label-only clips; held-out: {n['heldout']} in-distribution, {n['heldout_ood']} out-of-distribution "
             f"(cue pairs never seen in training: {'; '.join(' + '.join(p) for p in tables['ood_pairs'])}).", "",
             "| system | emotion | cues named | EmoCue-360 mean | words | trigram variety | OOD emotion | OOD cues "
             "named | training s | steps |", "|---|" + "---:|" * 9]
    for system in SYSTEMS:
        r = rows[system]
        lines.append(f"| {LABELS[system]} | {_pm(r['heldout_emotion'])} | {_pm(r['heldout_cues_named'])} | "
                     f"{_pm(r['heldout_emocue360'])} | {_pm(r['heldout_words'], 1.0)} | "
                     f"{_pm(r['heldout_variety'], 1.0, 2)} | {_pm(r['heldout_ood_emotion'])} | "
                     f"{_pm(r['heldout_ood_cues_named'])} | {_pm(r['train_seconds'], 1.0, 0)} | "
                     f"{_pm(r['train_steps'], 1.0, 0)} |")
    lines += per_factor_table(rows, SYSTEMS, LABELS, "Cue named per factor (in-distribution held-out clips, %):")
    g = tables["gains"]
    lines += ["", "Gains of (c), points (per seed, then mean ± std):", "",
              f"- emotion: over (a) {_pm(g['heldout_emotion_over_sft'])}, over (b) "
              f"{_pm(g['heldout_emotion_over_sft_labels'])}; OOD: over (a) {_pm(g['heldout_ood_emotion_over_sft'])}, "
              f"over (b) {_pm(g['heldout_ood_emotion_over_sft_labels'])}",
              f"- cues named: over (a) {_pm(g['heldout_cues_named_over_sft'])}, over (b) "
              f"{_pm(g['heldout_cues_named_over_sft_labels'])}", "", "Goal:", ""]
    lines += [f"- {name}: {'met' if ok else 'NOT met'}" for name, ok in tables["goal_checks"].items()]
    lines += ["", f"Wall time: {recipe_runs.wall_time_line(tables)}."]
    return "\n".join(lines) + "\n"


def examples_markdown(cfg: LabelStudyConfig, held: list[dict], evals: dict) -> str:
    seed = cfg.seeds[0]
    return examples_text(seed, held, {s: evals[seed][s]["heldout"]["predictions"] for s in SYSTEMS}, LABELS,
                         cfg.num_examples)


def run_study(cfg: LabelStudyConfig) -> dict:
    import os

    from emocue360.scoring import load_encoder
    from training.data.loaders import load_records
    from training.metrics import write_json

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "study_config.json", {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()})
    recipe_runs.banner(1, 3, "data", f"synthetic clips: {cfg.n_train} described, {cfg.n_labels} label-only, "
                                     f"{cfg.n_heldout} held-out")
    info = make_data(cfg)
    held = {split: load_records(cfg.out / "data" / split / "emocue.jsonl") for split in ("heldout", "heldout_ood")}
    encoder = load_encoder()
    recipe_runs.banner(2, 3, "train and evaluate", f"seeds {list(cfg.seeds)}: (a) SFT, (c) GRPO on labels, "
                                                   "(b) SFT on labels")
    runs, evals = {}, {}
    for seed in cfg.seeds:
        runs[seed] = train_seed(cfg, seed)
        evals[seed] = evaluate_seed(cfg, seed, held, encoder)
    recipe_runs.banner(3, 3, "tables", f"mean ± std over seeds -> {cfg.out}")
    tables = aggregate(evals, runs)
    tables.update(seeds=list(cfg.seeds), counts=info["counts"], ood_pairs=info["ood_pairs"],
                  stage4_steps=cfg.stage4_steps)
    tables.update(recipe_runs.wall_times(cfg.out, time.perf_counter() - t0, cfg.force))
    write_json(cfg.out / "table.json", tables)
    markdown = table_markdown(tables, cfg)
    (cfg.out / "table.md").write_text(markdown)
    (cfg.out / "examples.md").write_text(examples_markdown(cfg, held["heldout"], evals))
    print("\n" + markdown, flush=True)
    print(f"study finished in {recipe_runs.wall_time_line(tables)}; tables and examples in {cfg.out}", flush=True)
    return tables
