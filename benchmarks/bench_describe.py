"""Benchmark: ``xemogpt describe`` throughput on the tiny preset, batched against one clip at a time, side by side in
one run, and windows/s on a 60 s clip cut into windows.

The clips are real synthetic EmoCue clips (2 s, 112x112 H.264 + AAC, or wav for audio-only ones) and a 60 s clip
(25 fps, 160x120, AAC); every answer is forced to ``--new-tokens`` tokens (``min_new_tokens = max_new_tokens``), so
both modes do the same work. Each mode runs the whole describe path (:meth:`xemogpt_cli.describe_run.Runner.batches`
over the checkpoint's :class:`processing_xemogpt.XEmoGPTPipeline`: per-clip media decoding in a helper thread one
batch ahead, the processor and left-padded ``generate``, parsing, the predictions record) with batch size 1 or ``--batch-size``; the two modes alternate
``--repeats`` times and the best time of each is kept. The batched answers are checked to be identical to the
one-at-a-time answers (an untrained LM's near-tied logits may flip a token under padding). Prints clips/s of both and their ratio (target at batch 8: >= 3x), then windows/s::

    python benchmarks/bench_describe.py [--clips 16] [--batch-size 8] [--new-tokens 64] [--segment 10] [--repeats 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def long_clip(path: Path, seconds: int = 60, fps: int = 25) -> Path:
    from training.data.media_writer import write_mp4

    t = np.arange(seconds * 16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * (200 * t + 5 * t**2))).astype(np.float32)
    frames = np.zeros((seconds * fps, 120, 160, 3), np.uint8)
    for i in range(len(frames)):
        frames[i, :, :, 0] = (i * 3) % 256
        x = (i * 4) % 140
        frames[i, 40:80, x : x + 20] = 255
    return write_mp4(path, frames, fps=fps, audio=audio)


def timed(runner, jobs, batch_size: int) -> tuple[float, list[dict]]:
    start = time.perf_counter()
    records = [r for batch in runner.batches(jobs, batch_size) for r in batch]
    return time.perf_counter() - start, records


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--segment", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)

    import torch

    from training.data.synthetic import make_synthetic
    from xemogpt_cli.describe_inputs import resolve_inputs
    from xemogpt_cli.describe_run import Job, Runner, jobs_of
    from xemogpt_cli.inference import Describer

    if args.threads:
        torch.set_num_threads(args.threads)
    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor
    from xemogpt_cli.recipe_runs import tiny_config_overrides

    torch.manual_seed(0)  # the tiny preset as the demo trains it (its stage configs' overrides), untrained
    model = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", **tiny_config_overrides())).eval()
    describer = Describer(loaded=(model, XEmoGPTProcessor.from_preset("tiny"), "tiny"), max_new_tokens=args.new_tokens)
    describer.min_new_tokens = args.new_tokens
    runner = Runner(describer)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_synthetic(tmp / "syn", args.clips, seed=7, workers=1)
        items, _ = resolve_inputs(tmp / "syn" / "emocue.jsonl")
        jobs = [Job(item.id, item) for item in items]
        timed(runner, jobs[: args.batch_size], args.batch_size)  # warm-up
        one, batched = float("inf"), float("inf")
        for _ in range(args.repeats):
            t, single_records = timed(runner, jobs, 1)
            one = min(one, t)
            t, batch_records = timed(runner, jobs, args.batch_size)
            batched = min(batched, t)
        same = [a["explanation"] == b["explanation"] for a, b in zip(single_records, batch_records)]
        clip_items, _ = resolve_inputs(long_clip(tmp / "long.mp4"))
        windows = jobs_of(clip_items, args.segment, None, "both")
        w_one, _ = timed(runner, windows, 1)
        w_batched, _ = timed(runner, windows, args.batch_size)
    result = {
        "clips": len(jobs), "batch_size": args.batch_size, "new_tokens": args.new_tokens,
        "one_at_a_time_clips_per_s": len(jobs) / one, "batched_clips_per_s": len(jobs) / batched,
        "ratio": one / batched, "identical_answers": sum(same), "windows": len(windows),
        "windows_per_s_batched": len(windows) / w_batched, "windows_per_s_one_at_a_time": len(windows) / w_one,
        "torch_threads": torch.get_num_threads(),
    }
    print(f"tiny preset, {len(jobs)} synthetic clips, {args.new_tokens} new tokens each, best of {args.repeats}, "
          f"{result['torch_threads']} torch threads")
    print("| mode | clips/s |\n|---|---:|")
    print(f"| one clip at a time | {result['one_at_a_time_clips_per_s']:.2f} |")
    print(f"| batch {args.batch_size} | {result['batched_clips_per_s']:.2f} |")
    print(f"ratio (batch {args.batch_size} / one at a time): {result['ratio']:.1f}x; identical answers: "
          f"{sum(same)} of {len(same)}")
    print(f"60 s clip, {args.segment:g} s windows: {len(windows)} windows, "
          f"{result['windows_per_s_batched']:.2f} windows/s at batch {args.batch_size} "
          f"({result['windows_per_s_one_at_a_time']:.2f} one at a time)")
    return result


if __name__ == "__main__":
    main()
