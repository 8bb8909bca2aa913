"""``xemogpt describe INPUT``: the model's emotional explanation of a clip, a folder of clips, a list file or an EmoCue
records file, optionally window by window (``--segment``), into one predictions file that ``xemogpt eval`` reads.

Without ``--model`` the model is chosen as documented in :mod:`xemogpt_cli.inference` (``$XEMOGPT_MODEL``, then the
demo's ``./demo_output/checkpoint``, then the untrained tiny preset). The schema of the output lines is
:mod:`xemogpt_cli.predictions`; batching, resuming and several processes: :mod:`xemogpt_cli.describe_run`.

    xemogpt describe clip.mp4                              # the explanation
    xemogpt describe clip.mp4 --json                       # the prediction record (cues, emotion, ...)
    xemogpt describe data/heldout/emocue.jsonl --out preds.jsonl --batch-size 8
    xemogpt describe talk.mp4 --segment 10 --stride 5 --out windows.jsonl
    accelerate launch --num_processes 2 -m xemogpt_cli describe clips/ --out preds.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "describe",
        help="explain the emotion in clips (a clip, a folder, a list file or EmoCue records; long videos by windows)",
        description="XEmoGPT's emotional explanation of a clip, a folder of clips, a list file (one path per line) "
        "or an EmoCue records file. Model: --model, else $XEMOGPT_MODEL, else ./demo_output/checkpoint (written by "
        "`xemogpt demo`), else the untrained tiny preset. With --out the predictions go to a JSONL file that "
        "`xemogpt eval` reads; a rerun continues where a killed one stopped.",
    )
    p.add_argument("input", metavar="INPUT", help="clip (mp4/mkv/webm/avi/mov, wav/flac/ogg/mp3/m4a), folder of clips, "
                   "list file (.txt) or EmoCue records (.jsonl/.json/.csv/.parquet or a data folder)")
    p.add_argument("--out", default=None, help="predictions JSONL file (resumable); default: print to stdout")
    p.add_argument("--model", default=None, help="checkpoint directory or Hub id (loaded with trust_remote_code); "
                   "'tiny' forces the untrained tiny preset")
    p.add_argument("--subtitle", default="", help="what is said in the clip(s), added to the prompt (records "
                   "files use their own subtitles)")
    p.add_argument("--modality", choices=["visual", "audio", "both"], default="both",
                   help="which streams to use (default both: the video plus its audio stream when it has one; "
                   "records: their own modality)")
    p.add_argument("--batch-size", type=int, default=8, help="clips per generate call (default 8)")
    p.add_argument("--segment", type=float, default=None, metavar="SECONDS",
                   help="cut every clip into windows of this many seconds, one explanation per window")
    p.add_argument("--stride", type=float, default=None, metavar="SECONDS",
                   help="seconds between window starts (default: --segment, no overlap)")
    p.add_argument("--json", action="store_true", help="print the prediction records (JSON lines) to stdout")
    p.add_argument("--overwrite", action="store_true", help="start --out afresh instead of continuing it")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="generation length limit (default 128 for text answers, 384 for JSON answers)")
    p.add_argument("--decoding", default="greedy", choices=["greedy", "checkpoint"],
                   help="greedy (deterministic, default) or the checkpoint's generation_config.json (e.g. the authors' "
                        "beam-5 sampling in a converted release)")
    p.add_argument("--device", default=None, help="torch device (default: the process's accelerate device, cpu "
                   "without a GPU)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per process (default: torch's; "
                   "1 is fastest for the tiny preset, as in the stages' runtime.torch_threads)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--spans", choices=["model", "attention"], default="model",
                   help="per-cue time spans: those the model writes in a JSON answer (model, the default) or, for any "
                        "checkpoint, the attention of each cue's tokens onto the frame/audio tokens (attention; "
                        "xemogpt_cli/grounding.py)")
    p.set_defaults(func=run)
    return p


def _check_args(args) -> None:
    for name in ("max_new_tokens", "batch_size", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.stride is not None and args.segment is None:
        raise ValueError("--stride needs --segment")
    for name in ("segment", "stride"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise ValueError(f"--{name} must be a positive number of seconds, got {value}")


def _state():
    """The accelerate state when several processes were launched, else None (a plain single process)."""
    import os

    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return None
    from training.runtime import rank_info

    return rank_info()[0]


def run(args) -> int:
    from processing_xemogpt.pipeline_xemogpt import DEFAULT_MAX_NEW_TOKENS

    from . import describe_run
    from .describe_inputs import resolve_inputs
    from .inference import Describer, answer_format_of, choose_modality, resolve_model

    _check_args(args)
    items, kind = resolve_inputs(args.input, args.subtitle)
    if kind == "clip":
        choose_modality(items[0].clip, args.modality)  # check the clip before the model is loaded: errors come fast
    state = _state()
    if state is not None and args.out is None:
        raise ValueError("several processes need --out (each writes its share, the main process merges them)")
    main = state is None or state.is_main_process
    name = resolve_model(args.model)
    answer_format = answer_format_of(name)
    max_new_tokens = args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS[answer_format]
    out = Path(args.out) if args.out else None
    settings = {"input": str(Path(args.input).resolve()), "model": name, "answer_format": answer_format,
                "modality": args.modality, "segment": args.segment, "stride": args.stride,
                "max_new_tokens": max_new_tokens}
    if args.decoding != "greedy":  # recorded only when not the default: files written before the option still resume
        settings["decoding"] = args.decoding
    if out is not None and main:  # before the model loads: a refused rerun fails fast
        out.parent.mkdir(parents=True, exist_ok=True)
        describe_run.check_settings(out, settings, args.overwrite)
    if name == "tiny" and main:
        print("xemogpt describe: note: using the untrained tiny preset (random weights); run `xemogpt demo` or "
              "pass --model for meaningful output", file=sys.stderr)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    device = args.device or (str(state.device) if state is not None else "cpu")
    describer = Describer(name, device=device, max_new_tokens=max_new_tokens, decoding=args.decoding)
    describer.span_method = args.spans  # read by describe_run when a clip is described (--spans attention)
    if args.segment and args.segment > describer.processor.max_audio_seconds and main:
        print(f"xemogpt describe: note: the audio of each {args.segment:g} s window is cut to its first "
              f"{describer.processor.max_audio_seconds:g} s (the processor's max_audio_seconds)", file=sys.stderr)


    def emit(record: dict) -> None:
        if kind == "clip" and record["error"]:  # one clip asked for: its failure is the command's
            raise ValueError(record["error"])
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        elif kind == "clip" and not args.segment:
            print(record["explanation"] if not record["error"] else f"error: {record['error']}", flush=True)
        else:
            text = record["explanation"] if not record["error"] else f"error: {record['error']}"
            print(f"[{record['id']}] {text}", flush=True)

    figures = describe_run.run(items, describer, out, settings=settings, batch_size=args.batch_size,
                               segment=args.segment, stride=args.stride, modality=args.modality,
                               progress=not args.no_progress and out is not None,
                               emit=None if out is not None else emit, state=state)
    if out is not None and main:
        failed = f", {figures['failed']} failed (see 'error')" if figures.get("failed") else ""
        skipped = f", {figures['skipped_done']} already done" if figures["skipped_done"] else ""
        rate = f"{figures['per_second_here']:.2f} {figures['unit']}s/s"
        print(f"xemogpt describe: {figures['records']} {figures['unit']}s in {out}{failed}{skipped}; "
              f"this run: {figures['described_here']} in {figures['seconds']:.1f} s ({rate}"
              f"{', main process' if figures['num_processes'] > 1 else ''})", file=sys.stderr)
    return 0
