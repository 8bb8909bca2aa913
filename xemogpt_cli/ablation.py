"""``xemogpt ablate``: the paper's bridge ablation (Table V) and encoder probe (Table IV), trained and measured here.

For every seed, the same data and frozen towers: stage 1 trains VECB and stage 2 AECB (each once per seed), then
stage 3 trains the four Table V variants — no bridge, VECB only, AECB only, both (``XEmoGPTConfig.use_vecb`` /
``use_aecb``; a bridge switched off passes the frozen per-frame features straight to its projection) — from the same
base weights, data order and schedule. Each variant is scored on the held-out clips: EmoCue-360 F1 per dimension
(offline rules extractor + all-MiniLM-L6-v2, predictions and references alike), and on synthetic clips the cue-naming
rate per factor and the emotion accuracy. Table IV: held-out linear probes (UAR/WAR) of the emotion and of every cue
factor on the raw frozen features and on the trained bridge's output.

The AECB-objective factor (issue #23): the variants ``aecb_eq6`` and ``both_eq6`` are ``aecb`` and ``both`` with the
paper's AECB — eq.2 and eq.6 as written (:data:`PAPER_AECB`: no segment context, no position embedding, no temporal
term) — in stages 2 and 3, everything else as the tiny recipe, whose order-aware AECB the other variants have.

Tables are mean ± std over seeds; ``table.json``, ``table.md`` and ``table.png`` go to ``out/``. Every finished run
(stage, variant evaluation, probe) is kept on disk with a marker, so rerunning an interrupted command continues.
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import recipe_runs

VARIANTS = {  # Table V rows: (use_vecb, use_aecb), and the AECB-objective factor: the same with eq.6 alone
    "none": (False, False),
    "vecb": (True, False),
    "aecb": (False, True),
    "both": (True, True),
    "aecb_eq6": (False, True),
    "both_eq6": (True, True),
}
EQ6_ONLY = ("aecb_eq6", "both_eq6")  # their AECB: the paper's (eq.2, trained with eq.6 alone)
PAPER_AECB = {"aecb_segment_context": False, "aecb_position_embedding": None, "aecb_temporal_objective": "none",
              "aecb_pooling": "mean"}
DEFAULT_VARIANTS = ("none", "vecb", "aecb", "both", "both_eq6")
VISUAL_FACTORS = ("mouth", "brows", "head", "scene")
AUDIO_FACTORS = ("pitch", "intonation", "loudness", "rhythm")


@dataclass
class AblationConfig(recipe_runs.SeedStudyConfig):
    """Sizes, steps, seeds and the rest: :class:`~xemogpt_cli.recipe_runs.SeedStudyConfig`
    (``stage_overrides``: {"stage1": {field: value}, "stage3": {...}}, any field of the stage's config)."""

    out: Path = Path("ablation_output")
    variants: tuple = DEFAULT_VARIANTS
    stage3_lr: float | None = None
    # default size: <= 30 min on 2 CPU cores (12 stage-3 runs, two at a time); 1,000 clips, as 480 are memorised
    n_train: int = 1000
    n_heldout: int = 200  # one small held-out set cannot carry a claim (40 and 200 clips differed by 13 points)
    stage1_steps: int = 600
    stage2_steps: int = 400
    stage3_steps: int = 250
    jobs: int = 2  # stage runs side by side, one process and one thread each (2 cores: 2)

    AT_LEAST_ONE = (*recipe_runs.SeedStudyConfig.AT_LEAST_ONE, "jobs")  # not a field
    probe: bool = True

    def __post_init__(self):
        self.out = Path(self.out).absolute()
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown:
            raise ValueError(f"unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}")
        super().__post_init__()


def _run(cfg: AblationConfig, seed: int, name: str, out_dir: Path, steps: int, extra: dict,
         lr=None) -> recipe_runs.StageRun:
    """One stage run of the study for :func:`~xemogpt_cli.recipe_runs.run_stages_parallel`."""
    label = f"seed {seed} {name}" + (f" ({out_dir.parent.name})" if name == "stage3" else "")
    return recipe_runs.study_run(cfg, seed, name, out_dir, steps, extra, label, lr=lr)


def evaluate_variant(model_dir: Path, records: list[dict], cfg: AblationConfig, encoder) -> dict:
    """Held-out predictions of a merged stage-3 checkpoint and their scores (EmoCue-360 F1s, cue naming)."""
    import torch

    from emocue360.pipeline import compute_emocue360
    from modeling_xemogpt import XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor
    from training.data.cue_naming import cue_accuracy
    from training.data.sample import sample_from_record

    from .inference import Describer

    model = XEmoGPTForConditionalGeneration.from_pretrained(model_dir).eval()
    processor = XEmoGPTProcessor.from_pretrained(model_dir)
    describer = Describer(loaded=(model, processor, str(model_dir)), max_new_tokens=cfg.max_new_tokens)
    samples = [sample_from_record(r, feed_all_media=False, answer_format=None) for r in records]
    with torch.inference_mode():
        predictions = describer.generate(samples, batch_size=cfg.describe_batch_size)
    scores = compute_emocue360(predictions, [r["description"] for r in records], extractor="rules",
                               encoder=encoder, progress=False)
    out = {f"{d}_f1": scores[f"{d}_f1"] for d in ("visual", "audio", "global")}
    out["emocue360_mean"] = scores["mean"]
    if all(r.get("factors") for r in records):
        out["cue_naming"] = cue_accuracy(predictions, records)
    out["predictions"] = [{"id": r["id"], "prediction": p} for r, p in zip(records, predictions)]
    return out


def _mean_std(values: list[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def aggregate(results: dict, probes: dict) -> dict:
    """Mean ± std over seeds of every figure, per variant (Table V) and per probe row (Table IV)."""
    table_v = {}
    for variant in VARIANTS:
        runs = [r for (v, _), r in results.items() if v == variant]
        if not runs:
            continue
        row = {k: _mean_std([r[k] for r in runs]) for k in ("visual_f1", "audio_f1", "global_f1", "emocue360_mean")}
        if all("cue_naming" in r for r in runs):
            row["cue_accuracy"] = _mean_std([r["cue_naming"]["cue_accuracy"] for r in runs])
            row["emotion_accuracy"] = _mean_std([r["cue_naming"]["emotion_accuracy"] for r in runs])
            factors = sorted({f for r in runs for f in r["cue_naming"]["per_factor"]})
            row["per_factor"] = {f: _mean_std([r["cue_naming"]["per_factor"].get(f) for r in runs]) for f in factors}
        table_v[variant] = row
    table_iv = {}
    for rows in probes.values():
        for row in rows:
            key = f"{row['model']}|{row['label']}"
            table_iv.setdefault(key, {"model": row["model"], "modal": row["modal"], "label": row["label"],
                                      "uar": [], "war": []})
            table_iv[key]["uar"].append(row["uar"])
            table_iv[key]["war"].append(row["war"])
    for entry in table_iv.values():
        entry["uar"], entry["war"] = _mean_std(entry["uar"]), _mean_std(entry["war"])
    return {"table_v": table_v, "table_iv": list(table_iv.values())}


def _pm(stat: dict, scale: float = 100.0, digits: int = 1) -> str:
    if stat["mean"] is None:
        return "-"
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"


def table_markdown(tables: dict, cfg: AblationConfig) -> str:
    seeds = ", ".join(map(str, cfg.seeds))
    objective = aecb_objective_name()
    lines = [f"Table V (held-out, {tables.get('num_heldout', cfg.n_heldout)} clips, mean ± std over seeds {seeds}; "
             f"EmoCue-360 F1 and mean in %):", "",
             "| VECB | AECB | AECB objective | Vis-Emo F1 | Aud-Emo F1 | Glo-Emo F1 | EmoCue-360 mean | cues named | "
             "emotion correct |",
             "|:-:|:-:|---|---:|---:|---:|---:|---:|---:|"]
    for variant, row in tables["table_v"].items():
        use_vecb, use_aecb = VARIANTS[variant]
        v, a = ("✓" if use_vecb else "-"), ("✓" if use_aecb else "-")
        goal = "-" if not use_aecb else ("eq.6 (paper)" if variant in EQ6_ONLY else objective)
        cells = [_pm(row[k]) if k in row else "-" for k in ("visual_f1", "audio_f1", "global_f1", "emocue360_mean",
                                                             "cue_accuracy", "emotion_accuracy")]
        lines.append(f"| {v} | {a} | {goal} | " + " | ".join(cells) + " |")
    factors = sorted({f for row in tables["table_v"].values() for f in row.get("per_factor", {})})
    if factors:
        lines += ["", "Cue named per factor (% of held-out clips that have it):", "",
                  "| variant | " + " | ".join(factors) + " |", "|---|" + "---:|" * len(factors)]
        for variant, row in tables["table_v"].items():
            lines.append(f"| {variant} | " + " | ".join(_pm(row["per_factor"][f], digits=0) if f in
                                                         row.get("per_factor", {}) else "-" for f in factors) + " |")
    if tables["table_iv"]:
        lines += ["", f"Table IV (held-out linear probes, UAR / WAR in %, mean ± std over seeds {seeds}):", "",
                  "| features | modal | label | UAR | WAR |", "|---|:-:|---|---:|---:|"]
        for row in sorted(tables["table_iv"], key=lambda r: (r["modal"], r["label"], r["model"])):
            lines.append(f"| {row['model']} | {row['modal']} | {row['label']} | {_pm(row['uar'], 1.0)} | "
                         f"{_pm(row['war'], 1.0)} |")
    return "\n".join(lines) + "\n"


def aecb_objective_name() -> str:
    """What the tiny recipe's AECB adds to the paper's (eq.2 / eq.6), for the table: ``eq.6`` or ``eq.6 + ...``."""
    recipe = recipe_runs.tiny_config_overrides()
    added = [f"{key.removeprefix('aecb_')}={recipe[key]}".replace("=True", "") for key, paper in PAPER_AECB.items()
             if key in recipe and recipe[key] != paper]
    return "eq.6" + "".join(f" + {a}" for a in added)


def bar_chart(tables: dict, path: Path) -> Path:
    """Table V as grouped bars (F1 per dimension, and cue naming when measured), error bars = std over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = tables["table_v"]
    metrics = [("visual_f1", "Vis-Emo F1"), ("audio_f1", "Aud-Emo F1"), ("global_f1", "Glo-Emo F1")]
    if all("cue_accuracy" in r for r in rows.values()):
        metrics += [("cue_accuracy", "cues named"), ("emotion_accuracy", "emotion")]
    fig, ax = plt.subplots(figsize=(1.6 * len(metrics) + 2, 3.4))
    width = 0.8 / max(1, len(rows))
    for i, (variant, row) in enumerate(rows.items()):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [100 * (row[k]["mean"] or 0) for k, _ in metrics], width,
               yerr=[100 * (row[k]["std"] or 0) for k, _ in metrics], capsize=2, label=variant)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(metrics))], [label for _, label in metrics])
    ax.set_ylabel("%")
    ax.legend(title="bridges", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_ablation(cfg: AblationConfig) -> dict:
    import os

    from tqdm.auto import tqdm

    from emocue360.scoring import load_encoder
    from training.data.loaders import load_records
    from training.metrics import write_json

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_json(cfg.out / "ablation_config.json", {k: str(v) if isinstance(v, Path) else v
                                                  for k, v in asdict(cfg).items()})
    recipe_runs.banner(1, 3, "data", f"synthetic EmoCue clips ({cfg.n_train} train, {cfg.n_heldout} held-out)")
    recipe_runs.make_data(cfg.out / "data", cfg.n_train, cfg.n_heldout, cfg.data_seed, cfg.workers, cfg.force)
    held = load_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    encoder = load_encoder()
    results, probes = {}, {}
    recipe_runs.banner(2, 3, "train", f"seeds {list(cfg.seeds)} x variants {list(cfg.variants)}, "
                       f"{cfg.jobs} run(s) at a time")
    need_vecb = any(VARIANTS[v][0] for v in cfg.variants) or cfg.probe
    need_aecb = any(VARIANTS[v][1] and v not in EQ6_ONLY for v in cfg.variants) or cfg.probe
    need_eq6 = any(v in EQ6_ONLY for v in cfg.variants)
    eq6 = {"config_overrides": dict(PAPER_AECB)}  # over the base checkpoint's config (the tiny recipe's)
    bridges, bridge_runs, variant_runs = {}, [], []
    for seed in cfg.seeds:
        root = cfg.out / f"seed{seed}"
        recipe_runs.save_base(root / "untrained", seed, towers_seed=cfg.seeds[0], force=cfg.force)
        bridges[seed] = {}
        for name, stage, steps, wanted, extra in (("vecb", "stage1", cfg.stage1_steps, need_vecb, {}),
                                                  ("aecb", "stage2", cfg.stage2_steps, need_aecb, {}),
                                                  ("aecb_eq6", "stage2", cfg.stage2_steps, need_eq6, eq6)):
            if wanted:
                bridges[seed][name] = root / f"{stage}_{name}"
                bridge_runs.append(_run(cfg, seed, stage, bridges[seed][name], steps, extra))
        for variant in cfg.variants:
            use_vecb, use_aecb = VARIANTS[variant]
            extra = {**(eq6 if variant in EQ6_ONLY else {}), "loss_before_after": False}
            aecb = "aecb_eq6" if variant in EQ6_ONLY else "aecb"
            for name, source, on in (("vecb", "vecb", use_vecb), ("aecb", aecb, use_aecb)):
                extra[name] = str(bridges[seed][source]) if on else "off"  # a bridge is used iff it is given
            variant_runs.append(((variant, seed), _run(cfg, seed, "stage3", root / variant / "stage3",
                                                       cfg.stage3_steps, extra, lr=cfg.stage3_lr)))
    # the first seed's bridges fill the shared feature cache (the towers are the first seed's for every seed), so the
    # others read it instead of extracting the same features side by side
    first = [r for r in bridge_runs if f"seed {cfg.seeds[0]} " in r.label]
    recipe_runs.run_stages_parallel(first, cfg.jobs, cfg.force)
    recipe_runs.run_stages_parallel([r for r in bridge_runs if r not in first], cfg.jobs, cfg.force)
    todo = [(key, run) for key, run in variant_runs
            if not recipe_runs.is_done(run.out_dir.parent / "heldout_eval.json", cfg.force)]
    recipe_runs.run_stages_parallel([run for _, run in todo], cfg.jobs, cfg.force)
    bar = tqdm(total=len(variant_runs), desc="held-out evaluation", unit="variant")
    for (variant, seed), run in variant_runs:
        result_file = run.out_dir.parent / "heldout_eval.json"
        if recipe_runs.is_done(result_file, cfg.force):
            results[(variant, seed)] = json.loads(result_file.read_text())
        else:
            result = evaluate_variant(run.out_dir / "merged", held, cfg, encoder)
            write_json(result_file, result)
            results[(variant, seed)] = result
            bar.set_postfix(seed=seed, variant=variant, f1_vis=f"{result['visual_f1']:.2f}")
        bar.update(1)
    if cfg.probe:
        for seed in cfg.seeds:
            probes[seed] = seed_probe(cfg, seed, bridges[seed])
    bar.close()
    recipe_runs.banner(3, 3, "tables", f"mean ± std over seeds -> {cfg.out}")
    tables = aggregate(results, probes)
    tables["seeds"], tables["variants"] = list(cfg.seeds), list(cfg.variants)
    tables["num_heldout"] = len(held)
    tables.update(recipe_runs.wall_times(cfg.out, time.perf_counter() - t0, cfg.force))
    write_json(cfg.out / "table.json", tables)
    markdown = table_markdown(tables, cfg)
    (cfg.out / "table.md").write_text(markdown)
    bar_chart(tables, cfg.out / "table.png")
    print("\n" + markdown, flush=True)
    print(f"ablation finished in {recipe_runs.wall_time_line(tables)}; tables in {cfg.out}", flush=True)
    return tables


def seed_probe(cfg: AblationConfig, seed: int, bridges: dict) -> list[dict]:
    """Table IV rows of one seed (cached in ``seed*/probe.json``): emotion and every cue factor, raw vs bridge."""
    from training.data.loaders import load_records
    from training.frozen_encoders import FrozenMediaEncoders
    from training.metrics import write_json
    from training.probe import ProbeConfig, probe_rows

    path = cfg.out / f"seed{seed}" / "probe.json"
    if recipe_runs.is_done(path, cfg.force):
        return json.loads(path.read_text())
    probe_cfg = ProbeConfig(base_model=str(cfg.out / f"seed{seed}" / "untrained"),
                            cache_dir=str(cfg.out / "feature_cache"))
    encoders = FrozenMediaEncoders(probe_cfg)
    train = load_records(cfg.out / "data" / "train" / "emocue.jsonl")
    test = load_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    rows = probe_rows(encoders, probe_cfg, train, test, ["emotion", *(f"factors.{f}" for f in VISUAL_FACTORS)],
                      {"vecb": bridges.get("vecb")}, kinds=("visual",))
    audio_labels = ["emotion", *(f"factors.{f}" for f in AUDIO_FACTORS)]
    rows += probe_rows(encoders, probe_cfg, train, test, audio_labels, {"aecb": bridges.get("aecb")}, kinds=("audio",))
    if bridges.get("aecb_eq6"):  # the AECB-objective factor: the AECB of eq.6 alone (raw rows already there)
        rows += [{**r, "model": "HuBERT+AECB (eq.6 alone)"} for r in
                 probe_rows(encoders, probe_cfg, train, test, audio_labels, {"aecb": bridges["aecb_eq6"]},
                            kinds=("audio",)) if r["model"] != "HuBERT"]
    write_json(path, rows)
    return rows
