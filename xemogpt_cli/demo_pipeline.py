"""``xemogpt demo``: the whole XEmoGPT recipe end to end, offline, on the tiny preset and synthetic EmoCue clips.

Steps (each prints a banner; finished steps are skipped on a rerun unless ``force``):

1. data      synthetic EmoCue clips: a training split and a held-out split (different seeds, so different clips)
2. base      the tiny preset (random frozen CLIP/HuBERT towers, random Qwen3) saved as a remote-code checkpoint:
             this is the *untrained* row of the table, and the towers every stage uses
3. stage 1   VECB pre-training (``training.stage1_vecb.main``, eq.7)
4. stage 2   AECB pre-training (``training.stage2_aecb.main``, eq.6/8)
5. stage 3   instruction tuning (``training.stage3_sft.main``: TRL SFTTrainer) from the stage 1/2 bridges
6. export    the trained model + processor saved with ``save_pretrained`` (safetensors, module files, ``auto_map``)
7. describe  both checkpoints reloaded with ``AutoModel/AutoProcessor.from_pretrained(..., trust_remote_code=True)``
             in a fresh Python process each, describing the held-out clips
8. report    EmoCue-360 (offline rules extractor + all-MiniLM-L6-v2) and BLEU-1/4, CIDEr for both; cue-naming check;
             ``report/``: table.json, table.md, example.md/.html + frames.png, loss_curves.png, summary.json

The training steps call the very entry points of the real recipe (``main(argv)`` of each stage with its tiny YAML
config and command-line overrides), only with shorter schedules.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "training" / "configs"


@dataclass
class DemoConfig:
    out: Path = Path("demo_output")
    n_train: int = 480
    n_heldout: int = 40
    seed: int = 0
    stage1_steps: int = 150
    stage2_steps: int = 100
    stage3_steps: int = 500
    # learning rates / batch sizes: None keeps the tuned values of the stage's tiny YAML config
    stage1_lr: float | None = None
    stage2_lr: float | None = None
    stage3_lr: float | None = None
    batch_size: int | None = None
    stage3_batch_size: int | None = None
    max_new_tokens: int = 192
    describe_batch_size: int = 8
    workers: int | None = None
    force: bool = False
    stage_overrides: dict = field(default_factory=dict)  # {"stage1": [...argv], ...}: extra overrides per stage

    def __post_init__(self):
        self.out = Path(self.out)


STEPS = ("data", "base", "stage1", "stage2", "stage3", "export", "describe", "report")


def banner(i: int, name: str, text: str) -> float:
    line = f"[{i}/{len(STEPS)}] {name}: {text}"
    print("\n" + "=" * len(line) + "\n" + line + "\n" + "=" * len(line), flush=True)
    return time.perf_counter()


def _done(path: Path, cfg: DemoConfig) -> bool:
    return path.is_file() and not cfg.force


def _mark(path: Path, info: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(info, indent=2, default=str) + "\n")


def _absolute_records(jsonl: Path) -> list[dict]:
    base = jsonl.parent
    out = []
    for line in jsonl.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        for k in ("video", "audio"):
            if r.get(k) and not os.path.isabs(r[k]):
                r[k] = str((base / r[k]).resolve())
        out.append(r)
    return out


# ---------------------------------------------------------------------------------------------------------- steps
def step_data(cfg: DemoConfig) -> dict:
    from training.data.synthetic import make_synthetic

    info = {}
    for split, n, seed in (("train", cfg.n_train, cfg.seed), ("heldout", cfg.n_heldout, cfg.seed + 1000)):
        folder = cfg.out / "data" / split
        marker = folder / "DONE.json"
        if _done(marker, cfg):
            print(f"  {split}: {n} clips already in {folder} (skipped)")
            info[split] = json.loads(marker.read_text())
            continue
        t = time.perf_counter()
        ds = make_synthetic(folder, n, seed, workers=cfg.workers)
        dt = time.perf_counter() - t
        print(f"  {split}: {len(ds)} clips in {dt:.1f} s ({len(ds) / max(dt, 1e-9):.1f} clips/s) -> {folder}")
        info[split] = {"n": len(ds), "seconds": dt, "seed": seed}
        _mark(marker, info[split])
    return info


def tiny_config_overrides() -> dict:
    """``model.config_overrides`` of the tiny stage configs (they agree), so the base model matches the stages."""
    import yaml

    found = {}
    for name in ("stage1_tiny.yaml", "stage2_tiny.yaml", "stage3_tiny.yaml"):
        data = yaml.safe_load((CONFIGS / name).read_text()) or {}
        found.update((data.get("model") or {}).get("config_overrides") or {})
    return found


def step_base(cfg: DemoConfig) -> Path:
    base = cfg.out / "untrained"
    if _done(base / "DONE.json", cfg):
        print(f"  tiny preset already saved in {base} (skipped)")
        return base
    import torch

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor

    overrides = tiny_config_overrides()
    torch.manual_seed(cfg.seed)
    model = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", **overrides))
    processor = XEmoGPTProcessor.from_preset("tiny")
    model.save_pretrained(base)
    processor.save_pretrained(base)
    n = sum(p.numel() for p in model.parameters())
    print(f"  tiny preset{' with ' + str(overrides) if overrides else ''}: {n / 1e6:.2f} M parameters, saved with "
          f"remote code in {base}")
    _mark(base / "DONE.json", {"parameters": n})
    return base


def _run_stage(name: str, module: str, config: str, argv: list[str], out_dir: Path, cfg: DemoConfig) -> dict:
    import importlib

    if _done(out_dir / "metrics.json", cfg) and (out_dir / "DEMO_DONE").exists():
        print(f"  {name} already trained in {out_dir} (skipped)")
        return json.loads((out_dir / "metrics.json").read_text())
    if cfg.force and out_dir.exists():
        shutil.rmtree(out_dir)
    argv = ["--config", str(CONFIGS / config), *argv, *cfg.stage_overrides.get(name, [])]
    print(f"  python -m {module} " + " ".join(argv), flush=True)
    figures = importlib.import_module(module).main(argv)
    (out_dir / "DEMO_DONE").write_text("ok\n")
    return figures if isinstance(figures, dict) else json.loads((out_dir / "metrics.json").read_text())


def _common_argv(cfg: DemoConfig, base: Path, out_dir: Path, steps: int, lr: float | None,
                 batch: int | None) -> list[str]:
    tuned = []
    if lr is not None:
        tuned += ["--training.learning_rate", str(lr)]
    if batch is not None:
        tuned += ["--training.per_device_train_batch_size", str(batch)]
    return tuned + [
        "--model.base_model", str(base),
        "--data.train", str(cfg.out / "data" / "train" / "emocue.jsonl"),
        "--data.eval", str(cfg.out / "data" / "heldout" / "emocue.jsonl"),
        "--cache.dir", str(cfg.out / "feature_cache"),
        "--training.output_dir", str(out_dir),
        "--training.max_steps", str(steps),
        "--training.save_steps", str(max(steps, 1)),
        "--training.logging_steps", str(max(1, steps // 30)),
        "--training.disable_tqdm", "false",
    ]


def step_stage1(cfg: DemoConfig, base: Path) -> dict:
    out_dir = cfg.out / "stage1_vecb"
    argv = _common_argv(cfg, base, out_dir, cfg.stage1_steps, cfg.stage1_lr, cfg.batch_size)
    return _run_stage("stage1", "training.stage1_vecb", "stage1_tiny.yaml", argv, out_dir, cfg)


def step_stage2(cfg: DemoConfig, base: Path) -> dict:
    out_dir = cfg.out / "stage2_aecb"
    argv = _common_argv(cfg, base, out_dir, cfg.stage2_steps, cfg.stage2_lr, cfg.batch_size)
    return _run_stage("stage2", "training.stage2_aecb", "stage2_tiny.yaml", argv, out_dir, cfg)


def step_stage3(cfg: DemoConfig, base: Path) -> dict:
    out_dir = cfg.out / "stage3_sft"
    argv = _common_argv(cfg, base, out_dir, cfg.stage3_steps, cfg.stage3_lr, cfg.stage3_batch_size)
    argv += ["--bridges.vecb", str(cfg.out / "stage1_vecb"), "--bridges.aecb", str(cfg.out / "stage2_aecb")]
    return _run_stage("stage3", "training.stage3_sft", "stage3_tiny.yaml", argv, out_dir, cfg)


def step_export(cfg: DemoConfig, base: Path) -> Path:
    """The trained model as a plain remote-code checkpoint in ``out/checkpoint`` (stage 3's merged output)."""
    ckpt = cfg.out / "checkpoint"
    if _done(ckpt / "DONE.json", cfg):
        print(f"  checkpoint already exported to {ckpt} (skipped)")
        return ckpt
    merged = cfg.out / "stage3_sft" / "merged"  # stage 3 writes LoRA merged into the LLM, with the processor
    if not (merged / "config.json").is_file():
        raise FileNotFoundError(f"{merged}: stage 3 wrote no merged checkpoint; rerun with --force")
    if ckpt.exists():
        shutil.rmtree(ckpt)
    shutil.copytree(merged, ckpt)
    files = sorted(p.name for p in ckpt.iterdir())
    print(f"  saved {ckpt}: {', '.join(files)}")
    _mark(ckpt / "DONE.json", {"files": files})
    return ckpt


def describe_in_fresh_process(model_dir: Path, records_jsonl: Path, out_jsonl: Path, cfg: DemoConfig) -> list[dict]:
    """Run :mod:`xemogpt_cli.inference` as a new Python process that loads ``model_dir`` with the Auto classes."""
    cmd = [sys.executable, "-m", "xemogpt_cli.inference", "--model", str(model_dir.resolve()),
           "--records", str(records_jsonl.resolve()), "--out", str(out_jsonl.resolve()),
           "--max-new-tokens", str(cfg.max_new_tokens), "--batch-size", str(cfg.describe_batch_size)]
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    print("  " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env, cwd=str(ROOT))
    return [json.loads(line) for line in out_jsonl.read_text().splitlines() if line.strip()]


def step_describe(cfg: DemoConfig, systems: dict[str, Path]) -> dict[str, list[dict]]:
    held = _absolute_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    records_jsonl = cfg.out / "data" / "heldout_records.jsonl"
    records_jsonl.write_text("".join(json.dumps(r) + "\n" for r in held))
    preds = {}
    for name, model_dir in systems.items():
        out = cfg.out / f"predictions_{name}.jsonl"
        marker = cfg.out / f"predictions_{name}.DONE"
        if _done(marker, cfg) and out.is_file():
            print(f"  {name}: predictions already in {out} (skipped)")
        else:
            t = time.perf_counter()
            describe_in_fresh_process(model_dir, records_jsonl, out, cfg)
            marker.write_text(f"{time.perf_counter() - t:.1f} s\n")
        preds[name] = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        first = preds[name][0]
        print(f"  {name}: {len(preds[name])} held-out clips described by pid {first['pid']} "
              f"(this process: {os.getpid()}), model class {first['model_class']}")
    return preds


ROW_NAMES = {"untrained": "XEmoGPT-tiny, untrained", "trained": "XEmoGPT-tiny, demo-trained (stages 1-3)"}


def step_report(cfg: DemoConfig, preds: dict[str, list[dict]], stage_figures: dict, timings: dict) -> dict:
    from training.data.cue_naming import cue_accuracy

    from . import demo_report as R

    report = cfg.out / "report"
    report.mkdir(parents=True, exist_ok=True)
    held = _absolute_records(cfg.out / "data" / "heldout" / "emocue.jsonl")
    by_id = {r["id"]: r for r in held}
    refs = [r["description"] for r in held]
    texts = {name: [next(p["prediction"] for p in rows if p["id"] == r["id"]) for r in held]
             for name, rows in preds.items()}
    print("  scoring with EmoCue-360 (rules extractor, all-MiniLM-L6-v2) and BLEU/CIDEr ...", flush=True)
    rows = R.score_rows({ROW_NAMES[n]: t for n, t in texts.items()}, refs)
    cue_rows = {ROW_NAMES[n]: cue_accuracy(t, held) for n, t in texts.items()}
    table_md = R.table_markdown(rows)
    cues_md = R.cue_table_markdown(cue_rows)
    R.write_json(report / "table.json", {"rows": rows, "cue_naming": cue_rows, "num_heldout": len(held)})
    (report / "table.md").write_text(
        f"Held-out synthetic EmoCue clips: {len(held)}. EmoCue-360 values are percentages.\n\n{table_md}\n\n"
        f"Actual cues named in the explanation (generator phrasings) and emotion accuracy:\n\n{cues_md}\n")
    # one example clip with a video: frames beside its explanations
    example = next((r for r in held if r.get("video") and r.get("modality") == "multimodal"), held[0])
    sheet = R.contact_sheet(example["video"], report / "frames.png") if example.get("video") else None
    i = held.index(example)
    outputs = {ROW_NAMES[n]: texts[n][i] for n in texts}
    from emocue360.rules import extract_cues_rules

    R.example_pages(report, sheet or report / "frames.png", example, outputs,
                    {k: extract_cues_rules(v) for k, v in outputs.items()})
    histories = {}
    for stage in ("stage1_vecb", "stage2_aecb", "stage3_sft"):
        path = cfg.out / stage / "loss_history.json"
        if path.is_file():
            histories[stage] = json.loads(path.read_text())
    R.loss_curves(histories, report / "loss_curves.png")
    summary = {"timings_s": timings, "stages": stage_figures, "config": {k: str(v) if isinstance(v, Path) else v
                                                                         for k, v in asdict(cfg).items()}}
    R.write_json(report / "summary.json", summary)
    print("\n" + table_md + "\n\n" + cues_md + "\n", flush=True)
    _ = by_id
    return {"rows": rows, "cue_naming": cue_rows, "table_md": table_md, "report": str(report)}


# ---------------------------------------------------------------------------------------------------------- driver
def run_demo(cfg: DemoConfig) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
    cfg.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    figures: dict[str, dict] = {}

    t = banner(1, "data", f"synthetic EmoCue clips ({cfg.n_train} train, {cfg.n_heldout} held-out)")
    step_data(cfg)
    timings["data"] = time.perf_counter() - t
    t = banner(2, "base", "tiny preset (the untrained model)")
    base = step_base(cfg)
    timings["base"] = time.perf_counter() - t
    t = banner(3, "stage 1", f"VECB pre-training, {cfg.stage1_steps} steps")
    figures["stage1"] = step_stage1(cfg, base)
    timings["stage1"] = time.perf_counter() - t
    t = banner(4, "stage 2", f"AECB pre-training, {cfg.stage2_steps} steps")
    figures["stage2"] = step_stage2(cfg, base)
    timings["stage2"] = time.perf_counter() - t
    t = banner(5, "stage 3", f"instruction tuning (TRL SFTTrainer), {cfg.stage3_steps} steps")
    figures["stage3"] = step_stage3(cfg, base)
    timings["stage3"] = time.perf_counter() - t
    t = banner(6, "export", "remote-code checkpoint")
    ckpt = step_export(cfg, base)
    timings["export"] = time.perf_counter() - t
    t = banner(7, "describe", "held-out clips, each model loaded with trust_remote_code in a fresh process")
    preds = step_describe(cfg, {"untrained": base, "trained": ckpt})
    timings["describe"] = time.perf_counter() - t
    t = banner(8, "report", f"scores and report folder {cfg.out / 'report'}")
    timings["report"] = 0.0
    timings["total"] = time.perf_counter() - t0
    result = step_report(cfg, preds, figures, timings)
    timings["report"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    R_summary = cfg.out / "report" / "summary.json"
    summary = json.loads(R_summary.read_text())
    summary["timings_s"] = timings
    R_summary.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(f"demo finished in {timings['total'] / 60:.1f} min; report: {cfg.out / 'report'}; "
          f"trained checkpoint: {ckpt} (try: xemogpt describe CLIP --model {ckpt})", flush=True)
    result["timings_s"] = timings
    return result
