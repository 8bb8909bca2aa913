"""``xemogpt rl-study``: does stage 4 (GRPO with cue-level rewards) beat stage 3, and more stage-3 training?

For every seed, on the synthetic benchmark (the demo's training clips and held-out clips): stages 1-3 train the tiny
preset as the demo does; then, from the stage-3 merged checkpoint,

* **stage 4** runs GRPO (``training.stage4_grpo`` with ``stage4_tiny.yaml``) for ``stage4_steps`` steps;
* **control** continues stage 3 (``training.stage3_sft``: a fresh LoRA adapter on the stage-3 checkpoint, the tiny
  stage-3 recipe) for as many steps as fit in stage 4's measured training time, at the stage-3 run's measured speed.

The three checkpoints describe the held-out clips greedily (the evaluator of ``xemogpt ablate``): EmoCue-360 (offline
rules extractor + all-MiniLM-L6-v2, F1 per dimension and the mean of the six P/R values), the cue-naming rate per
synthetic factor and the emotion accuracy, plus the mean length and word-trigram variety of the explanations (reward
hacking shows up there). ``table.json`` / ``table.md`` (mean ± std over seeds) and ``examples.md`` (held-out clips with
the reference and the three explanations) go to ``out/``. Every finished run keeps a marker, so rerunning an
interrupted study continues; ``--force`` redoes everything.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import recipe_runs
from .ablation import _mean_std, _pm, evaluate_variant

SYSTEMS = ("stage3", "stage4", "control")
LABELS = {"stage3": "after stage 3", "stage4": "after stage 4 (GRPO)", "control": "stage 3 continued (same wall time)"}
FIGURES = ("emocue360_mean", "visual_f1", "audio_f1", "global_f1")


@dataclass
class RLStudyConfig(recipe_runs.SeedStudyConfig):
    """Sizes, steps, seeds and the rest: :class:`~xemogpt_cli.recipe_runs.SeedStudyConfig` (``stage_overrides``:
    {"stage3": {field: value}, "stage4": {...}, "control": {...}})."""

    out: Path = Path("rl_study_output")
    stage4_steps: int = 150
    control_seconds: float | None = None  # None: stage 4's measured training time (the same wall time)
    num_examples: int = 4

    AT_LEAST_ONE = (*recipe_runs.SeedStudyConfig.AT_LEAST_ONE, "stage4_steps")

    def __post_init__(self):
        self.out = Path(self.out).absolute()
        super().__post_init__()


# ------------------------------------------------------------------------------------------------------------ runs
def _stage(cfg: RLStudyConfig, seed: int, name: str, out_dir: Path, steps: int, extra: dict,
           base: Path | None = None) -> dict:
    """The control continues stage 3: the stage-3 module and config, its own overrides."""
    return recipe_runs.study_stage(cfg, seed, name, out_dir, steps, extra, f"seed {seed} {name}", base=base,
                                   stage="stage3" if name == "control" else name)


GRPO_SETTINGS = {"eval_file": None, "log_completions": True, "num_completions_to_print": 0}
CONTINUED = {"vecb": None, "aecb": None, "loss_before_after": False}  # stage 3 from base_model with its own bridges


def stage_bridges(root: Path) -> dict:
    """Stage 3's bridges: the stage-1/2 outputs of a seed's folder."""
    return {"vecb": str(root / "stage1_vecb"), "aecb": str(root / "stage2_aecb")}


def train_seed(cfg: RLStudyConfig, seed: int) -> dict[str, dict]:
    """Stages 1-3, stage 4 and the control of one seed; returns each run's figures."""
    root = cfg.out / f"seed{seed}"
    recipe_runs.save_base(root / "untrained", seed, towers_seed=cfg.seeds[0], force=cfg.force)
    runs = {"stage1": _stage(cfg, seed, "stage1", root / "stage1_vecb", cfg.stage1_steps, {}),
            "stage2": _stage(cfg, seed, "stage2", root / "stage2_aecb", cfg.stage2_steps, {})}
    runs["stage3"] = _stage(cfg, seed, "stage3", root / "stage3_sft", cfg.stage3_steps,
                            {**stage_bridges(root), "loss_before_after": False})
    merged = root / "stage3_sft" / "merged"
    runs["stage4"] = _stage(cfg, seed, "stage4", root / "stage4_grpo", cfg.stage4_steps, GRPO_SETTINGS, base=merged)
    budget = cfg.control_seconds or runs["stage4"]["train_runtime_s"]
    per_step = runs["stage3"]["train_runtime_s"] / max(1, runs["stage3"]["global_step"])
    control_steps = max(1, round(budget / per_step))
    # the stage-3 recipe continued: a fresh adapter on the stage-3 checkpoint (its bridges come with it)
    runs["control"] = _stage(cfg, seed, "control", root / "control_sft", control_steps, CONTINUED, base=merged)
    runs["control"]["budget_s"] = budget
    return runs


def text_shape(predictions: list[str]) -> dict:
    """Mean words per explanation and the mean share of distinct word trigrams (1: no repetition loops)."""
    words = [re.findall(r"\S+", p.lower()) for p in predictions]
    variety = []
    for w in words:
        trigrams = [tuple(w[i : i + 3]) for i in range(len(w) - 2)]
        variety.append(len(set(trigrams)) / len(trigrams) if trigrams else 1.0)
    return {"mean_words": sum(map(len, words)) / max(1, len(words)), "trigram_variety": sum(variety) / len(variety)}


def evaluate_seed(cfg: RLStudyConfig, seed: int, held: list[dict], encoder) -> dict[str, dict]:
    root = cfg.out / f"seed{seed}"
    dirs = {"stage3": root / "stage3_sft" / "merged", "stage4": root / "stage4_grpo" / "merged",
            "control": root / "control_sft" / "merged"}
    results = {}
    for system, model_dir in dirs.items():
        path = root / f"eval_{system}.json"
        if recipe_runs.is_done(path, cfg.force):
            results[system] = json.loads(path.read_text())
            continue
        t = time.perf_counter()
        result = evaluate_variant(model_dir, held, cfg, encoder)
        result.update(text_shape([p["prediction"] for p in result["predictions"]]))
        result["eval_seconds"] = time.perf_counter() - t
        recipe_runs.mark_done(path, result)
        results[system] = result
        print(f"  seed {seed} {system}: EmoCue-360 mean {100 * result['emocue360_mean']:.1f}, cues named "
              f"{100 * result['cue_naming']['cue_accuracy']:.1f} %, emotion "
              f"{100 * result['cue_naming']['emotion_accuracy']:.1f} %", flush=True)
    return results


# ------------------------------------------------------------------------------------------------------------ tables
def aggregate(evals: dict, runs: dict) -> dict:
    """Mean ± std over seeds per system: EmoCue-360, cue naming (overall and per factor), emotion, text shape,
    training time; and the stage-4 margin over the better of the two others, per seed."""
    table = {}
    for system in SYSTEMS:
        rows = [evals[s][system] for s in evals]
        row = {k: _mean_std([r[k] for r in rows]) for k in (*FIGURES, "mean_words", "trigram_variety")}
        row["cue_accuracy"] = _mean_std([r["cue_naming"]["cue_accuracy"] for r in rows])
        row["emotion_accuracy"] = _mean_std([r["cue_naming"]["emotion_accuracy"] for r in rows])
        factors = sorted({f for r in rows for f in r["cue_naming"]["per_factor"]})
        row["per_factor"] = {f: _mean_std([r["cue_naming"]["per_factor"].get(f) for r in rows]) for f in factors}
        row["train_seconds"] = _mean_std([runs[s][system]["train_runtime_s"] for s in runs])
        row["train_steps"] = _mean_std([runs[s][system]["global_step"] for s in runs])
        table[system] = row
    margins = [evals[s]["stage4"]["emocue360_mean"] - max(evals[s]["stage3"]["emocue360_mean"],
                                                          evals[s]["control"]["emocue360_mean"]) for s in evals]
    gains = {other: _mean_std([evals[s]["stage4"]["emocue360_mean"] - evals[s][other]["emocue360_mean"]
                               for s in evals]) for other in ("stage3", "control")}
    return {"systems": table, "margin_over_best_other": _mean_std(margins), "gain_over": gains,
            "goal_points": 3.0, "goal_met": all(100 * m >= 3.0 for m in margins)}


def per_factor_table(rows: dict, systems, labels: dict, heading: str) -> list[str]:
    """Markdown lines of a study's per-factor table: one row per system, the cue-named rate of every factor."""
    factors = sorted({f for r in rows.values() for f in r["per_factor"]})
    lines = ["", heading, "", "| system | " + " | ".join(factors) + " |", "|---|" + "---:|" * len(factors)]
    for system in systems:
        lines.append(f"| {labels[system]} | " + " | ".join(_pm(rows[system]["per_factor"][f], digits=0)
                                                           for f in factors) + " |")
    return lines


def table_markdown(tables: dict, cfg: RLStudyConfig) -> str:
    seeds = ", ".join(map(str, cfg.seeds))
    rows = tables["systems"]
    lines = [f"Held-out synthetic clips ({tables['num_heldout']}), greedy decoding; mean ± std over seeds {seeds}; "
             "EmoCue-360 and rates in %.", "",
             "| system | EmoCue-360 mean | Vis F1 | Aud F1 | Glo F1 | cues named | emotion | words | trigram variety "
             "| training s | steps |", "|---|" + "---:|" * 10]
    for system in SYSTEMS:
        r = rows[system]
        lines.append(f"| {LABELS[system]} | {_pm(r['emocue360_mean'])} | {_pm(r['visual_f1'])} | {_pm(r['audio_f1'])} "
                     f"| {_pm(r['global_f1'])} | {_pm(r['cue_accuracy'])} | {_pm(r['emotion_accuracy'])} | "
                     f"{_pm(r['mean_words'], 1.0)} | {_pm(r['trigram_variety'], 1.0, 2)} | "
                     f"{_pm(r['train_seconds'], 1.0, 0)} | {_pm(r['train_steps'], 1.0, 0)} |")
    lines += per_factor_table(rows, SYSTEMS, LABELS, "Cue named per factor (% of held-out clips that have it):")
    gain = tables["gain_over"]
    lines += ["", f"Stage 4 minus stage 3: {_pm(gain['stage3'])} points; stage 4 minus control: "
              f"{_pm(gain['control'])} points; stage 4 minus the better of the two, per seed: "
              f"{_pm(tables['margin_over_best_other'])} points (goal: ≥ {tables['goal_points']:.0f} on every seed: "
              f"{'met' if tables['goal_met'] else 'not met'})."]
    return "\n".join(lines) + "\n"


def examples_text(seed: int, held: list[dict], predictions: dict, labels: dict, num_examples: int) -> str:
    """A few held-out clips (multimodal first, then visual, audio): the reference and each system's explanation.
    ``predictions``: system -> the system's prediction records (``id``, ``prediction``), in ``labels``' order."""
    preds = {s: {p["id"]: p["prediction"] for p in rows} for s, rows in predictions.items()}
    picked = [r for m in ("multimodal", "visual", "audio") for r in held if r["modality"] == m][:num_examples]
    lines = [f"Example held-out explanations (seed {seed}, greedy decoding).", ""]
    for r in picked:
        lines += [f"### {r['id']} ({r['modality']}, emotion: {r['emotion']})", "", f"- **reference**: {r['description']}"]
        lines += [f"- **{labels[s]}**: {preds[s].get(r['id'], '')}" for s in predictions]
        lines.append("")
    return "\n".join(lines)


def examples_markdown(cfg: RLStudyConfig, held: list[dict], evals: dict) -> str:
    """A few held-out clips of the first seed: reference, and the three systems' explanations."""
    seed = cfg.seeds[0]
    return examples_text(seed, held, {s: evals[seed][s]["predictions"] for s in SYSTEMS}, LABELS, cfg.num_examples)


def run_study(cfg: RLStudyConfig) -> dict:
    import os

    from emocue360.scoring import load_encoder
    from training.data.loaders import load_records
    from training.metrics import write_json

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "study_config.json", {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()})
    recipe_runs.banner(1, 3, "data", f"synthetic EmoCue clips ({cfg.n_train} train, {cfg.n_heldout} held-out)")
    recipe_runs.make_data(cfg.out / "data", cfg.n_train, cfg.n_heldout, cfg.data_seed, cfg.workers, cfg.force)
    held = load_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    encoder = load_encoder()
    recipe_runs.banner(2, 3, "train and evaluate", f"seeds {list(cfg.seeds)}: stages 1-3, stage 4, control")
    runs, evals = {}, {}
    for seed in cfg.seeds:
        runs[seed] = train_seed(cfg, seed)
        evals[seed] = evaluate_seed(cfg, seed, held, encoder)
    recipe_runs.banner(3, 3, "tables", f"mean ± std over seeds -> {cfg.out}")
    tables = aggregate(evals, runs)
    tables.update(seeds=list(cfg.seeds), num_heldout=len(held), stage4_steps=cfg.stage4_steps,
                  per_seed={s: {system: {k: evals[s][system][k] for k in (*FIGURES, "mean_words")}
                                | {"cue_naming": evals[s][system]["cue_naming"],
                                   "train_seconds": runs[s][system]["train_runtime_s"],
                                   "steps": runs[s][system]["global_step"]}
                                for system in SYSTEMS} for s in cfg.seeds})
    tables.update(recipe_runs.wall_times(cfg.out, time.perf_counter() - t0, cfg.force))
    write_json(cfg.out / "table.json", tables)
    markdown = table_markdown(tables, cfg)
    (cfg.out / "table.md").write_text(markdown)
    (cfg.out / "examples.md").write_text(examples_markdown(cfg, held, evals))
    print("\n" + markdown, flush=True)
    print(f"study finished in {recipe_runs.wall_time_line(tables)}; tables and examples in {cfg.out}", flush=True)
    return tables
