"""``xemogpt data``: build EmoCue data (paper §IV) and publish it.

Subcommands::

    xemogpt data build --format emer --csv final-EMER-reason.csv --media-dir clips/ --out data/emer [--skip-missing]
    xemogpt data synthetic --out data/synth --n 300 --seed 0
    xemogpt data emocue-instruct --input data/mercap --out data/instruct --model deepseek-chat --base-url URL
    xemogpt data short-caption --input data/dfew --out data/short --model deepseek-chat --base-url URL
    xemogpt data sheet export --records data/instruct --out sheet.csv [--n 300 --seed 0]
    xemogpt data sheet aggregate expert1.csv expert2.csv expert3.csv --out fig10/
    xemogpt data push data/instruct --repo-id me/emocue [--quality fig10/fig10_summary.json] [--dry-run DIR]
    xemogpt data push ckpt/ --kind model --repo-id me/xemogpt [--eval-results eval.json --training train.json]
    xemogpt data push emocue360 --kind space --repo-id me/emocue360

Outputs of ``build`` / ``emocue-instruct`` / ``short-caption``: ``OUT/emocue.jsonl`` and ``OUT/dataset``
(``Dataset.save_to_disk``), plus ``OUT/build_info.json``. LLM calls are cached in ``OUT/cache`` (or ``--cache-dir``):
rerunning a stopped or partly failed command sends only the missing calls.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from processing_xemogpt.vocabulary import MODALITIES

# ------------------------------------------------------------------------------------------------------------------
# parser
# ------------------------------------------------------------------------------------------------------------------
def _add_backend_args(p: argparse.ArgumentParser):
    g = p.add_argument_group("chat model (EmoCue-360 backends)")
    g.add_argument("--backend", choices=("openai", "hf"), default="openai",
                   help="openai: any OpenAI-compatible endpoint; hf: a local transformers chat model")
    g.add_argument("--model", default="deepseek-chat", help="model name at the endpoint, or local model dir (hf)")
    g.add_argument("--base-url", default=None, help="endpoint root, e.g. https://api.deepseek.com or "
                   "http://127.0.0.1:8000/v1 (default: $OPENAI_BASE_URL)")
    g.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    g.add_argument("--max-retries", type=int, default=5, help="retries per request on 429/5xx/timeouts")
    g.add_argument("--backoff", type=float, default=1.0, help="first retry back-off in seconds")
    g.add_argument("--max-workers", type=int, default=8, help="concurrent requests")
    g.add_argument("--cache-dir", default=None, help="LLM reply cache (default: OUT/cache)")
    g.add_argument("--limit", type=int, default=None, help="only the first N records")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser("data", help="build EmoCue data from public formats, run the EmoCue-Instruct "
                                   "pipeline, expert sheets, Hub push",
                                   description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="data_command", metavar="DATA_COMMAND")

    b = sub.add_parser("build", help="convert a public dataset format into EmoCue records")
    b.add_argument("--format", required=True, help="emer | mer-caption (mer2025) | dfew | mafw | speechcraft")
    b.add_argument("--csv", action="append", default=None, help="annotation file: EMER/MER CSV, DFEW/MAFW label "
                   "file (split CSV/TXT, DFER-CLIP list, single-set.xlsx, caption split), SpeechCraft JSON/JSONL; "
                   "repeat for several split files (mer-caption: may be left out when --openset is given)")
    b.add_argument("--media-dir", default=None, help="folder with the clips, found by name + common extensions")
    b.add_argument("--audio-dir", default=None, help="folder with separate audio files (default: --media-dir)")
    b.add_argument("--openset", default=None, help="mer-caption: open-set label CSV (name, openset); enough alone "
                   "for label-only records")
    b.add_argument("--subtitles", default=None, help="emer / mer-caption: subtitle CSV (name, english[, chinese])")
    b.add_argument("--captions", default=None, help="mafw: caption file (descriptive_text.xlsx, a with_caption "
                   "split, or a table with english/chinese columns)")
    b.add_argument("--language", choices=("en", "zh"), default="en", help="text language to take (emer "
                   "descriptions, mafw captions, mer-caption subtitles)")
    b.add_argument("--modality", choices=MODALITIES, default=None,
                   help="dfew / mafw record modality (default visual)")
    b.add_argument("--label-only", action="store_true", help="dfew / mafw / mer-caption: clips without a caption "
                   "or reason become label-only records (emotion only, empty description, no cues: stage 4's label "
                   "data) instead of a description that states the label")
    b.add_argument("--skip-missing", action="store_true", help="drop records whose media file is missing or "
                   "unusable (not a readable clip, cut short, no such stream; counted and listed) instead of failing")
    b.add_argument("--no-media-check", action="store_true", help="keep clip names as paths without looking "
                   "for the files (media stored elsewhere)")
    b.add_argument("--out", required=True, help="output folder")

    from training.data.synthetic import add_arguments as add_synthetic_arguments

    add_synthetic_arguments(sub.add_parser("synthetic", help="write learnable synthetic clips + EmoCue records"))

    for name, helptext in (("emocue-instruct", "paper §IV stages 1-2: cue inference + consolidation"),
                           ("short-caption", "EmoCue-ShortCaption generation")):
        e = sub.add_parser(name, help=helptext)
        e.add_argument("--input", required=True, help="records: JSONL, save_to_disk folder or a build output")
        e.add_argument("--out", required=True)
        _add_backend_args(e)
        if name == "emocue-instruct":
            e.add_argument("--consolidate-model", default=None, help="model of stage 2 (default: --model)")
            e.add_argument("--consolidate-base-url", default=None, help="endpoint of stage 2 (default: --base-url)")

    sh = sub.add_parser("sheet", help="expert scoring sheets (paper §VI-F, Fig. 10)")
    shs = sh.add_subparsers(dest="sheet_command", metavar="SHEET_COMMAND")
    ex = shs.add_parser("export", help="random sample CSV with empty 1-5 score columns visual, audio, global")
    ex.add_argument("--records", required=True, help="emocue-instruct output folder or records JSONL")
    ex.add_argument("--references", default=None, help="JSONL of {id, description} originals "
                    "(default: references.jsonl beside the records)")
    ex.add_argument("--out", required=True, help="CSV to write")
    ex.add_argument("--n", type=int, default=300)
    ex.add_argument("--seed", type=int, default=0)
    ag = shs.add_parser("aggregate", help="Fig. 10 summary (JSON + PNG) from returned sheets")
    ag.add_argument("sheets", nargs="+", help="returned CSV sheets, one per expert")
    ag.add_argument("--out", required=True, help="output folder")

    pu = sub.add_parser("push", help="push a dataset (default), a model folder or the EmoCue-360 Space to the Hub")
    pu.add_argument("path", help="dataset (build output / save_to_disk folder / JSONL), model folder, or "
                    "metric folder")
    pu.add_argument("--repo-id", required=True)
    pu.add_argument("--kind", choices=("dataset", "model", "space"), default="dataset")
    pu.add_argument("--private", action="store_true")
    pu.add_argument("--token", default=None, help="Hub token (default: the logged-in one / $HF_TOKEN)")
    pu.add_argument("--quality", default=None, help="dataset: fig10_summary.json to show in the card")
    pu.add_argument("--source", action="append", default=[], help="dataset: a source line for the card")
    pu.add_argument("--pretty-name", default="EmoCue")
    pu.add_argument("--include-media", action="store_true", help="dataset: upload the media files too")
    pu.add_argument("--eval-results", default=None, help="model: evaluation JSON for the card")
    pu.add_argument("--training", default=None, help="model: training record JSON/YAML for the card")
    pu.add_argument("--figure", action="append", default=[], help="model: repo path of a training figure")
    pu.add_argument("--dry-run", metavar="DIR", default=None,
                    help="dataset/space: only stage the upload into DIR (nothing is sent)")

    parser.set_defaults(func=run, _data_parser=parser)
    return parser


# ------------------------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------------------------
def _read_records(path: str | Path) -> list[dict]:
    """Records from a JSONL/JSON/CSV/parquet file, a ``save_to_disk`` folder or an output folder of this command.

    Read with :func:`training.data.loaders.load_emocue` (validated; relative media paths resolved against the data
    file's folder; media files need not exist: the text pipelines and the push do not open them).
    """
    from training.data.loaders import load_emocue

    p = Path(path)
    if p.is_dir() and (p / "emocue.jsonl").is_file() and not (p / "dataset_info.json").is_file():
        p = p / "emocue.jsonl"
    ds = load_emocue(p, validate=True, check_media=False)
    if hasattr(ds, "keys"):  # a DatasetDict: all splits, in order
        return [dict(r) for name in ds for r in ds[name]]
    return [dict(r) for r in ds]


def _write_output(records: list[dict], out: Path, meta: dict) -> dict:
    from training.data.builders import write_built

    return write_built(records, out, meta=meta)


def _validate(records: list[dict], check_media: bool):
    from training.data.validate import validate_records

    validate_records(records, check_media=check_media)


def _make_backend(args, model=None, base_url=None):
    from llm_client import BackendError, make_backend

    try:
        if args.backend == "openai":
            return make_backend("openai", model=model or args.model, base_url=base_url or args.base_url,
                                api_key=os.environ.get(args.api_key_env, ""), timeout=args.timeout,
                                max_retries=args.max_retries, backoff=args.backoff, max_workers=args.max_workers)
        return make_backend("hf", model=model or args.model)
    except BackendError as exc:
        raise ValueError(str(exc)) from None


def _cache(args, out: Path):
    from emocue360.cache import JSONCache

    return JSONCache(args.cache_dir or (out / "cache"))


# ------------------------------------------------------------------------------------------------------------------
# commands
# ------------------------------------------------------------------------------------------------------------------
def _cmd_build(args) -> int:
    from training.data.builders import BUILDERS, build, get_builder

    builder = get_builder(args.format)  # unknown format -> one-line ValueError before any file is read
    is_mer = builder is BUILDERS["mer-caption"]
    csvs = args.csv or []
    if not csvs and not (is_mer and args.openset):
        raise ValueError(f"{args.format}: give the annotation file with --csv"
                         + (" (or the open-set label CSV with --openset)" if is_mer else ""))
    if builder is BUILDERS["emer"] and len(csvs) > 1:
        raise ValueError("emer: give one --csv file")
    if is_mer and len(csvs) > 1:
        raise ValueError("mer-caption: give one --csv (reasons) and the label file with --openset")
    opts = dict(csv=(csvs if len(csvs) > 1 else csvs[0]) if csvs else None, media_dir=args.media_dir,
                audio_dir=args.audio_dir, skip_missing=args.skip_missing, require_media=not args.no_media_check,
                openset=args.openset, subtitles=args.subtitles, captions=args.captions, language=args.language,
                subtitle_language=args.language)
    if args.label_only:
        if builder not in (BUILDERS["dfew"], BUILDERS["mafw"], BUILDERS["mer-caption"]):
            raise ValueError(f"{args.format}: --label-only applies to dfew, mafw and mer-caption label files")
        opts["label_only"] = True
    if args.modality:
        opts["modality"] = args.modality
    sources = csvs + [p for p in (args.openset, args.captions, args.subtitles) if p]
    result = build(args.format, **opts)
    if not result.records:
        raise ValueError(f"no records built from {', '.join(sources)} ({result.summary()})")
    _validate(result.records, check_media=not args.no_media_check)
    out = Path(args.out)
    paths = _write_output(result.records, out, meta={
        "format": result.format, "sources": sources, "media_dir": args.media_dir,
        "skipped_missing": result.skipped_missing, "skipped_empty": result.skipped_empty,
        "skipped_bad_media": result.bad_media,
        "warnings": result.warnings})
    for w in result.warnings[:5]:
        print(f"warning: {w}", file=sys.stderr)
    print(f"{result.summary()}\nwrote {paths['jsonl']} and {paths['dataset']}")
    return 0


def _cmd_synthetic(args) -> int:
    from training.data import synthetic

    return synthetic.run(args)


def _finish_pipeline(result, out: Path, args, kind: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    if result.records:
        _validate(result.records, check_media=False)
        _write_output(result.records, out, meta={"kind": kind, "input": args.input, "model": args.model,
                                                 "backend": args.backend, "failed": len(result.failed_ids)})
    if getattr(result, "references", None):
        with open(out / "references.jsonl", "w", encoding="utf-8") as f:
            for r in result.references:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (out / "failed.json").write_text(json.dumps(result.failed_ids, indent=1) + "\n", encoding="utf-8")
    print(result.summary())
    if result.failed_ids:
        print(f"xemogpt data {kind}: {len(result.failed_ids)} record(s) failed (listed in {out / 'failed.json'}); "
              "run the same command again to retry them", file=sys.stderr)
        return 1
    return 0


def _cmd_pipeline(args, kind: str) -> int:
    from training.data.emocue_instruct import run_emocue_instruct, run_short_caption

    records = _read_records(args.input)
    if args.limit is not None:
        records = records[: args.limit]
    if not records:
        raise ValueError(f"{args.input}: no records")
    out = Path(args.out)
    cache = _cache(args, out)
    backend = _make_backend(args)
    try:
        if kind == "emocue-instruct":
            consolidate = None
            if args.consolidate_model or args.consolidate_base_url:
                consolidate = _make_backend(args, model=args.consolidate_model, base_url=args.consolidate_base_url)
            result = run_emocue_instruct(records, backend, cache, consolidate_backend=consolidate,
                                         max_workers=args.max_workers, progress=not args.no_progress)
        else:
            result = run_short_caption(records, backend, cache, max_workers=args.max_workers,
                                       progress=not args.no_progress)
    finally:
        cache.close()
        for b in (backend,):
            if hasattr(b, "close"):
                b.close()
    return _finish_pipeline(result, out, args, kind)


def _cmd_sheet(args) -> int:
    from training.data.emocue_instruct import aggregate_sheets, export_sheet

    if args.sheet_command == "export":
        records = _read_records(args.records)
        ref_path = Path(args.references) if args.references else None
        if ref_path is None:
            base = Path(args.records)
            base = base if base.is_dir() else base.parent
            ref_path = base / "references.jsonl"
        if not ref_path.is_file():
            raise FileNotFoundError(f"{ref_path}: reference descriptions not found (pass --references)")
        refs = [json.loads(line) for line in ref_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        path = export_sheet(records, refs, args.out, n=args.n, seed=args.seed)
        print(f"wrote {min(args.n, len(records))} samples to {path} (fill the visual, audio, global columns "
              "with 1-5)")
        return 0
    if args.sheet_command == "aggregate":
        summary = aggregate_sheets(args.sheets, args.out)
        for dim, d in summary["dimensions"].items():
            mean = "n/a" if d["mean"] is None else f"{d['mean']:.2f} ± {d['std']:.2f}"
            print(f"{dim:7s} mean {mean}  (n={d['n']})")
        print(f"wrote {summary['files']['json']} and {summary['files']['png']}")
        return 0
    raise ValueError("sheet: choose 'export' or 'aggregate'")


def _cmd_push(args) -> int:
    from hub_cards import build_dataset_card, build_model_card, push, validate_card

    if args.kind == "dataset":
        from training.data.builders import records_to_dataset

        records = _read_records(args.path)
        dataset = records_to_dataset(records)
        card = build_dataset_card(repo_id=args.repo_id, records=records, pretty_name=args.pretty_name,
                                  sources=args.source, quality=args.quality)
        validate_card(card, repo_type="dataset")
        if args.dry_run:
            files = push.stage_dataset(dataset, args.dry_run, card=card, include_media=args.include_media)
            print(f"staged {len(files)} files in {args.dry_run}: {', '.join(files)}")
            return 0
        push.push_dataset(dataset, args.repo_id, card=card, private=args.private or None, token=args.token,
                          include_media=args.include_media)
    elif args.kind == "model":
        card = build_model_card(args.path, repo_id=args.repo_id, eval_results=args.eval_results,
                                training=args.training, figures=args.figure)
        validate_card(card, repo_type="model")
        if args.dry_run:
            raise ValueError("push --kind model: --dry-run is not supported (the folder itself is uploaded)")
        push.push_model(args.path, args.repo_id, card=card, private=args.private or None, token=args.token)
    else:
        if args.dry_run:
            files = push.stage_metric_space(args.path, args.dry_run)
            print(f"staged {len(files)} files in {args.dry_run}: {', '.join(files)}")
            return 0
        push.push_metric_space(args.repo_id, args.path, private=args.private or None, token=args.token)
    print(f"pushed {args.path} to https://huggingface.co/"
          f"{'' if args.kind == 'model' else args.kind + 's/'}{args.repo_id}")
    return 0


def run(args) -> int:
    cmd = getattr(args, "data_command", None)
    if cmd is None:
        args._data_parser.print_help()
        return 2
    if cmd == "build":
        return _cmd_build(args)
    if cmd == "synthetic":
        return _cmd_synthetic(args)
    if cmd in ("emocue-instruct", "short-caption"):
        return _cmd_pipeline(args, cmd)
    if cmd == "sheet":
        return _cmd_sheet(args)
    if cmd == "push":
        return _cmd_push(args)
    raise ValueError(f"unknown data command {cmd!r}")
