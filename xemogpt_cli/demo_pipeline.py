"""``xemogpt demo``: the whole XEmoGPT recipe end to end, offline, on the tiny preset and synthetic EmoCue clips.

Steps (each prints a banner; finished steps are skipped on a rerun unless ``force``):

1. data      synthetic EmoCue clips: a training split and a held-out split (different seeds, so different clips)
2. base      the tiny preset (random frozen CLIP/HuBERT towers, random Qwen3) saved as a remote-code checkpoint:
             this is the *untrained* row of the table, and the towers every stage uses
3. stage 1   VECB pre-training (``training.stage1_vecb.run``, eq.7)
4. stage 2   AECB pre-training (``training.stage2_aecb.run``, eq.6/8)
5. stage 3   instruction tuning (``training.stage3_sft.run``: TRL SFTTrainer) from the stage 1/2 bridges
   stage 4   with ``rl``: GRPO with cue-level rewards from the stage-3 checkpoint (``training.stage4_grpo.run``)
6. export    the trained model + processor saved with ``save_pretrained`` (safetensors, module files, ``auto_map``)
7. describe  the checkpoints (stage 4's too with ``rl``) reloaded with ``AutoModel/AutoProcessor.from_pretrained(..., trust_remote_code=True)``
             in a fresh Python process each, describing the held-out clips
8. report    EmoCue-360 (offline rules extractor + all-MiniLM-L6-v2) and BLEU-1/4, CIDEr for both; cue-naming check;
             ``report/``: table.json, table.md, example.md/.html + frames.png, loss_curves.png, summary.json; the
             trained checkpoints' model cards (``README.md``, held-out figures from table.json as ``model-index``)

The training steps call the very entry points of the real recipe (``run(config)`` of each stage, its config built
from the stage's tiny YAML file and the demo's settings), only with shorter schedules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import recipe_runs
from training.data.loaders import load_records

from .recipe_runs import ROOT, mark_done as _mark


@dataclass
class DemoConfig(recipe_runs.RecipeRunConfig):
    """Sizes, stage 1-3 steps, ``workers``, ``force`` and ``stage_overrides`` ({"stage1": {field: value}, ...}):
    :class:`~xemogpt_cli.recipe_runs.RecipeRunConfig`."""

    out: Path = Path("demo_output")
    n_train: int = 1000  # 480 synthetic clips are memorised (held-out cue naming 78% vs 87% on 3,000, docs/training.md)
    stage1_steps: int = 600  # the bridges make the face cues prominent (docs/training.md); ~25 s on 2 cores
    stage2_steps: int = 1200  # the pooled intonation probe 85.6 -> 93.9%; named 59.6 -> 74.4% (3 seeds, docs/training.md); ~35 s
    stage3_steps: int = 700  # ~2 steps/s from the feature cache: the demo stays under 10 min on 2 cores
    n_heldout: int = 200  # the held-out evaluation (and its shuffled-media controls): one small set cannot carry a claim
    untrained_clips: int = 40  # the untrained row (a random LLM writing to max_new_tokens) on the first clips only
    seed: int = 0
    # learning rates / batch sizes: None keeps the tuned values of the stage's tiny YAML config
    stage1_lr: float | None = None
    stage2_lr: float | None = None
    stage3_lr: float | None = None
    batch_size: int | None = None
    stage3_batch_size: int | None = None
    rl: bool = False  # add stage 4 (GRPO) after stage 3, and its row in the report
    stage4_steps: int = 60
    max_new_tokens: int = 192
    answer_format: str = "text"  # "json": also train stage 3 with JSON answers and compare it with the text model
    json_max_new_tokens: int = 384  # JSON answers are about twice as long in tokens as the text (synthetic: <= 314)
    describe_batch_size: int = 8
    describe_jobs: int = 2  # describing processes side by side (one thread each)

    AT_LEAST_ONE = (*recipe_runs.RecipeRunConfig.AT_LEAST_ONE, "stage4_steps", "max_new_tokens", "json_max_new_tokens",
                    "untrained_clips")

    def __post_init__(self):
        # absolute: the held-out records are rewritten under out/ for the describe step, and a relative media path
        # would then resolve against that folder instead of the current directory
        self.out = Path(self.out).absolute()
        super().__post_init__()


STEPS = ("data", "base", "stage1", "stage2", "stage3", "export", "describe", "report")


def steps_of(cfg: DemoConfig) -> tuple:
    """The demo's steps; ``rl`` adds stage 4 after stage 3."""
    return STEPS[:5] + ("stage4",) + STEPS[5:] if cfg.rl else STEPS


def banner(i: int, name: str, text: str, total: int = len(STEPS)) -> float:
    return recipe_runs.banner(i, total, name, text)


def _done(path: Path, cfg: DemoConfig) -> bool:
    return recipe_runs.is_done(path, cfg.force)


def stage(cfg: DemoConfig, base: Path, name: str, steps: int, lr, batch, extra: dict | None = None,
           out_name: str | None = None) -> dict:
    module = recipe_runs.TINY_STAGES[name][0]
    out_dir = cfg.out / (out_name or module.rsplit(".", 1)[-1])  # stage1_vecb, ...
    settings = recipe_runs.stage_settings(base, cfg.out / "data", cfg.out / "feature_cache", out_dir, steps, lr, batch)
    settings.update(**(extra or {}), **cfg.stage_overrides.get(name, {}))
    return recipe_runs.run_stage(recipe_runs.StageRun(name, name, recipe_runs.stage_config(name, settings)), cfg.force)


# ---------------------------------------------------------------------------------------------------------- steps
def step_data(cfg: DemoConfig) -> dict:
    return recipe_runs.make_data(cfg.out / "data", cfg.n_train, cfg.n_heldout, cfg.seed, cfg.workers, cfg.force)


def step_base(cfg: DemoConfig) -> Path:
    return recipe_runs.save_base(cfg.out / "untrained", cfg.seed, force=cfg.force)


def step_stage1(cfg: DemoConfig, base: Path) -> dict:
    return stage(cfg, base, "stage1", cfg.stage1_steps, cfg.stage1_lr, cfg.batch_size)


def step_stage2(cfg: DemoConfig, base: Path) -> dict:
    return stage(cfg, base, "stage2", cfg.stage2_steps, cfg.stage2_lr, cfg.batch_size)


def step_stage3(cfg: DemoConfig, base: Path) -> dict:
    return stage(cfg, base, "stage3", cfg.stage3_steps, cfg.stage3_lr, cfg.stage3_batch_size, bridges(cfg))


def bridges(cfg: DemoConfig) -> dict:
    """Stage 3's bridges: the demo's stage-1/2 outputs."""
    return {"vecb": str(cfg.out / "stage1_vecb"), "aecb": str(cfg.out / "stage2_aecb")}


def step_stage4(cfg: DemoConfig) -> dict:
    """GRPO from the stage-3 merged checkpoint (its towers, bridges and processor), on the demo's training clips."""
    return stage(cfg, cfg.out / "stage3_sft" / "merged", "stage4", cfg.stage4_steps, None, None,
                  {"eval_file": None})


def step_export(cfg: DemoConfig, base: Path, stage_dir: str = "stage3_sft", name: str = "checkpoint") -> Path:
    """The trained model as a plain remote-code checkpoint in ``out/<name>`` (stage 3's merged output)."""
    ckpt = cfg.out / name
    if _done(ckpt / "DONE.json", cfg):
        print(f"  checkpoint already exported to {ckpt} (skipped)")
        return ckpt
    merged = cfg.out / stage_dir / "merged"  # stage 3 writes LoRA merged into the LLM, with the processor
    if not (merged / "config.json").is_file():
        raise FileNotFoundError(f"{merged}: stage 3 wrote no merged checkpoint; rerun with --force")
    if ckpt.exists():
        shutil.rmtree(ckpt)
    shutil.copytree(merged, ckpt)
    files = sorted(p.name for p in ckpt.iterdir())
    print(f"  saved {ckpt}: {', '.join(files)}")
    _mark(ckpt / "DONE.json", {"files": files})
    return ckpt


def describe_in_fresh_process(model_dir: Path, records_jsonl: Path, out_jsonl: Path, cfg: DemoConfig,
                              max_new_tokens: int | None = None) -> list[dict]:
    """``xemogpt describe RECORDS --out PREDICTIONS`` as a new Python process that loads ``model_dir`` with the Auto
    classes (remote code); a rerun after a kill continues the predictions file. Returns its records
    (:mod:`xemogpt_cli.predictions`)."""
    from . import predictions

    cmd = [sys.executable, "-m", "xemogpt_cli", "describe", str(records_jsonl.resolve()), "--model",
           str(model_dir.resolve()), "--out", str(out_jsonl.resolve()), "--max-new-tokens",
           str(max_new_tokens or cfg.max_new_tokens), "--batch-size", str(cfg.describe_batch_size), "--threads", "1",
           *(["--overwrite"] if cfg.force else [])]
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    print("  " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=str(ROOT))
    return predictions.read(out_jsonl)


def provenance(out_jsonl: Path) -> dict:
    """The run file ``xemogpt describe`` keeps next to its predictions: pid and model class of the process."""
    from .describe_run import settings_path

    return json.loads(settings_path(out_jsonl).read_text())


def explanations(rows: list[dict], records: list[dict]) -> list[str]:
    """The explanation of every record, in record order (a clip that failed counts as an empty explanation)."""
    by_id = {str(r["id"]): r for r in rows}
    return [by_id[str(r["id"])].get("explanation") or "" for r in records]


def step_describe(cfg: DemoConfig, systems: dict[str, Path]) -> dict[str, list[dict]]:
    """Predictions of each system on the held-out clips, plus the shuffled-media control of the trained model: the
    same clips with another clip's video (and, separately, another clip's audio), scored against the clips' own
    cues, which shows whether the model reads each modality's tokens."""
    from training.data.cue_naming import swap_media

    held = load_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    inputs = {"heldout": held, "swapped_video": swap_media(held, "video", cfg.seed),
              "swapped_audio": swap_media(held, "audio", cfg.seed)}
    inputs["heldout_untrained"] = held[: cfg.untrained_clips]
    runs = {name: (model_dir, "heldout_untrained" if name == "untrained" else "heldout")
            for name, model_dir in systems.items()}
    runs.update({f"trained_{kind}": (systems["trained"], kind) for kind in ("swapped_video", "swapped_audio")})
    # one process per run, describe_jobs at a time (each on one thread: the tiny model is fastest so, and 2 cores
    # describe two runs side by side)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, cfg.describe_jobs)) as pool:
        futures = {name: pool.submit(describe_records, cfg, name, model_dir, which, inputs[which])
                   for name, (model_dir, which) in runs.items()}
        return {name: future.result() for name, future in futures.items()}


def describe_records(cfg: DemoConfig, name: str, model_dir: Path, which: str, records: list[dict],
                     max_new_tokens: int | None = None) -> list[dict]:
    """``predictions_<name>.jsonl``: ``records`` described by ``model_dir`` in a fresh process (skipped when done)."""
    records_jsonl = cfg.out / "data" / f"{which}_records_{name}.jsonl"  # one file per run: runs go side by side
    records_jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = cfg.out / f"predictions_{name}.jsonl"
    marker = cfg.out / f"predictions_{name}.DONE"
    if _done(marker, cfg) and out.is_file():
        print(f"  {name}: predictions already in {out} (skipped)")
    else:
        t = time.perf_counter()
        describe_in_fresh_process(model_dir, records_jsonl, out, cfg, max_new_tokens)
        marker.write_text(f"{time.perf_counter() - t:.1f} s\n")
    from . import predictions

    rows = predictions.read(out)
    run = provenance(out)
    print(f"  {name}: {len(rows)} held-out clips described by pid {run['pid']} (this process: {os.getpid()}), "
          f"model class {run['model_class']}")
    return rows


ROW_NAMES = {"untrained": "XEmoGPT-tiny, untrained", "trained": "XEmoGPT-tiny, demo-trained (stages 1-3)",
             "trained_swapped_video": "control: trained, another clip's video",
             "trained_swapped_audio": "control: trained, another clip's audio",
             "rl": "XEmoGPT-tiny, + stage 4 (GRPO, cue-level rewards)"}


def step_report(cfg: DemoConfig, preds: dict[str, list[dict]], stage_figures: dict, timings: dict) -> dict:
    from training.data.cue_naming import cue_accuracy

    from . import demo_report as R

    report = cfg.out / "report"
    report.mkdir(parents=True, exist_ok=True)
    held = load_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    # the untrained model describes the first untrained_clips clips only: each row is scored on the clips it described
    clips = {name: held[: cfg.untrained_clips] if name == "untrained" else held for name in preds}
    texts = {name: explanations(rows, clips[name]) for name, rows in preds.items()}
    print("  scoring with EmoCue-360 (rules extractor, all-MiniLM-L6-v2) and BLEU/CIDEr ...", flush=True)
    table_rows = [n for n in ("untrained", "trained", "rl") if n in texts]
    rows = {}
    for n in table_rows:
        rows.update(R.score_rows({ROW_NAMES[n]: texts[n]}, [r["description"] for r in clips[n]]))
    cue_rows = {ROW_NAMES[n]: cue_accuracy(t, clips[n]) for n, t in texts.items()}
    table_md = R.table_markdown(rows)
    cues_md = R.cue_table_markdown(cue_rows)
    num_clips = {ROW_NAMES[n]: len(clips[n]) for n in texts}
    R.write_json(report / "table.json", {"rows": rows, "cue_naming": cue_rows, "num_heldout": len(held),
                                         "clips_per_row": num_clips})
    untrained_note = (f" (the untrained row: the first {len(clips['untrained'])})"
                      if "untrained" in clips and len(clips["untrained"]) < len(held) else "")
    tables = (f"Held-out synthetic EmoCue clips: {len(held)}{untrained_note}. EmoCue-360 values are percentages."
              f"\n\n{table_md}\n\n"
              f"Actual cues named in the explanation (generator phrasings) and emotion accuracy, with the shuffled-media"
              f" controls (another clip's video / audio, scored against the clip's own cues):\n\n{cues_md}\n")
    (report / "table.md").write_text(tables)
    # one example clip with a video: frames beside its explanations
    example = next((r for r in clips.get("untrained", held) if r.get("video") and r.get("modality") == "multimodal"),
                   held[0])
    sheet = R.contact_sheet(example["video"], report / "frames.png") if example.get("video") else None
    i = held.index(example)
    outputs = {ROW_NAMES[n]: texts[n][i] for n in table_rows}
    from emocue360.rules import extract_cues_rules

    R.example_pages(report, sheet or report / "frames.png", example, outputs,
                    {k: extract_cues_rules(v) for k, v in outputs.items()})
    histories = {}
    for stage in ("stage1_vecb", "stage2_aecb", "stage3_sft"):  # stage 4 logs rewards, not a loss to compare
        path = cfg.out / stage / "loss_history.json"
        if path.is_file():
            histories[stage] = json.loads(path.read_text())
    R.loss_curves(histories, report / "loss_curves.png")
    summary = {"timings_s": timings, "stages": stage_figures, "config": {k: str(v) if isinstance(v, Path) else v
                                                                         for k, v in asdict(cfg).items()}}
    R.write_json(report / "summary.json", summary)
    print("\n" + tables, flush=True)  # what table.md holds, with the lines that say what the figures are
    return {"rows": rows, "cue_naming": cue_rows, "table_md": table_md, "report": str(report)}


DEMO_INTENDED_USE = (
    "Trying the XEmoGPT recipe end to end offline (`xemogpt demo`): loading a remote-code checkpoint, describing "
    "clips, scoring descriptions with EmoCue-360. Not for describing real people."
)
DEMO_LIMITATIONS = (
    "Trained on **synthetic clips only** (rendered faces, scenes and tones from `training/data/synthetic.py`, "
    "described by a template generator) with tiny random backbones: it names the generator's cues on clips like "
    "those and is not a model of real human emotion. Its descriptions can name cues that are not in the clip; "
    "emotion inferred from behaviour must not be used to make decisions about people."
)
CARD_STAGES = {"trained": ("stage1_vecb", "stage2_aecb", "stage3_sft"),
               "rl": ("stage1_vecb", "stage2_aecb", "stage3_sft", "stage4_grpo")}


def card_metrics(table: dict, row: str) -> dict:
    """The held-out figures of report row ``row`` as the card's metrics: its Table II scores (without sample and
    support counts) and its cue-naming figures, both read from ``report/table.json``."""
    scores = {k: v for k, v in table["rows"][row].items() if k != "num_samples" and not k.endswith("_support")}
    naming = table["cue_naming"][row]
    return {**scores, "cue_accuracy": naming["cue_accuracy"], "emotion_accuracy": naming["emotion_accuracy"],
            "per_factor": naming.get("per_factor") or {}}


def step_card(cfg: DemoConfig, systems: dict[str, Path]) -> list[Path]:
    """``README.md`` of each trained checkpoint the report scores (``checkpoint/``, and stage 4's ``merged/`` with
    ``rl``): its held-out figures read from ``report/table.json`` (the report's own file) as the ``model-index``, the
    report's tables, the data and settings of the stage runs it came from."""
    from hub_cards.model_card import tiny_backbones, write_model_card
    from training.model_card import STAGE_LABELS, earlier_stages, run_settings

    report = cfg.out / "report"
    table = json.loads((report / "table.json").read_text())
    heldout = cfg.out / "data" / "heldout" / "emocue.jsonl"
    written = []
    for name, stages in CARD_STAGES.items():
        if name not in systems or ROW_NAMES[name] not in table["rows"]:
            continue
        ckpt, last = systems[name], cfg.out / stages[-1]
        data = earlier_stages(last / "merged") + [{"stage": "report", "name": "held-out set",
                                                    "records": table["num_heldout"], "source": str(heldout)}]
        recipe = {STAGE_LABELS[s]: run_settings(cfg.out / s) for s in stages}
        recipe.update({"stage configs": ", ".join(f"training/configs/{recipe_runs.TINY_STAGES[s.split('_')[0]][2]}"
                                                  for s in stages) + " with the demo's overrides",
                       "synthetic data": f"{cfg.n_train} training / {cfg.n_heldout} held-out clips, seed {cfg.seed}"})
        results = {"dataset": "synthetic EmoCue held-out clips", "dataset_type": "synthetic-emocue",
                   "split": "heldout", "metrics": card_metrics(table, ROW_NAMES[name]),
                   "notes": f"{table['num_heldout']} held-out synthetic clips ({heldout}), described by this "
                            "checkpoint in a fresh process (`xemogpt describe`). EmoCue-360 with the offline rules "
                            "extractor and all-MiniLM-L6-v2, BLEU/CIDEr against the reference descriptions; "
                            "`cue_accuracy`: fraction of the clips' actual cues the explanation names, "
                            "`emotion_accuracy`: the emotion named last is the clip's. From `report/table.json`."}
        written.append(write_model_card(
            ckpt, model_name=ROW_NAMES[name],
            base_models={**tiny_backbones(), "base_model": str(cfg.out / "untrained")},
            training_data=data, recipe=recipe, results=results, intended_use=DEMO_INTENDED_USE,
            limitations=DEMO_LIMITATIONS, license="apache-2.0",
            source=f"trained by `xemogpt demo` in {cfg.out} (stages {', '.join(s[5] for s in stages)})",
            extra_sections={"Demo report (held-out synthetic clips)": (report / "table.md").read_text()}))
        print(f"  model card {written[-1]}")
    return written


# ---------------------------------------------------------------------------------------------------------- driver
def run_demo(cfg: DemoConfig) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    cfg.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    figures: dict[str, dict] = {}
    n = len(steps_of(cfg))
    shift = int(cfg.rl)  # stage 4 comes before export, describe and report

    t = banner(1, "data", f"synthetic EmoCue clips ({cfg.n_train} train, {cfg.n_heldout} held-out)", n)
    step_data(cfg)
    timings["data"] = time.perf_counter() - t
    t = banner(2, "base", "tiny preset (the untrained model)", n)
    base = step_base(cfg)
    timings["base"] = time.perf_counter() - t
    t = banner(3, "stage 1", f"VECB pre-training, {cfg.stage1_steps} steps", n)
    figures["stage1"] = step_stage1(cfg, base)
    timings["stage1"] = time.perf_counter() - t
    t = banner(4, "stage 2", f"AECB pre-training, {cfg.stage2_steps} steps", n)
    figures["stage2"] = step_stage2(cfg, base)
    timings["stage2"] = time.perf_counter() - t
    t = banner(5, "stage 3", f"instruction tuning (TRL SFTTrainer), {cfg.stage3_steps} steps", n)
    figures["stage3"] = step_stage3(cfg, base)
    timings["stage3"] = time.perf_counter() - t
    systems = {}
    if cfg.rl:
        t = banner(6, "stage 4", f"GRPO with cue-level rewards (TRL GRPOTrainer), {cfg.stage4_steps} steps", n)
        figures["stage4"] = step_stage4(cfg)
        timings["stage4"] = time.perf_counter() - t
        systems["rl"] = cfg.out / "stage4_grpo" / "merged"
    t = banner(6 + shift, "export", "remote-code checkpoint", n)
    ckpt = step_export(cfg, base)
    timings["export"] = time.perf_counter() - t
    t = banner(7 + shift, "describe", "held-out clips, each model loaded with trust_remote_code in a fresh process", n)
    preds = step_describe(cfg, {"untrained": base, "trained": ckpt, **systems})
    timings["describe"] = time.perf_counter() - t
    t = banner(8 + shift, "report", f"scores and report folder {cfg.out / 'report'}", n)
    timings["report"] = 0.0
    timings["total"] = time.perf_counter() - t0
    result = step_report(cfg, preds, figures, timings)
    result["cards"] = [str(p) for p in step_card(cfg, {"trained": ckpt, **systems})]
    timings["report"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    R_summary = cfg.out / "report" / "summary.json"
    summary = json.loads(R_summary.read_text())
    summary["timings_s"] = timings
    R_summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"demo finished in {timings['total'] / 60:.1f} min; report: {cfg.out / 'report'}; "
          f"trained checkpoint: {ckpt} (try: xemogpt describe CLIP --model {ckpt})", flush=True)
    result["timings_s"] = timings
    result["untrained_checkpoint"], result["trained_predictions"] = base, preds["trained"]
    return result
