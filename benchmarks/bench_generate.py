"""Tiny-preset generation of 128 new tokens for one generated clip, with and without the KV cache, side by side.

Without the cache every step re-runs the whole prompt (and, as transformers does when `use_cache=False`, the media
encoders); with it, media are encoded once at prefill and each step feeds one token.

    python benchmarks/bench_generate.py [--new-tokens 128] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def make_clip(path: Path) -> Path:
    from training.data.media_writer import write_mp4

    rng = np.random.default_rng(0)
    frames = (rng.random((32, 64, 64, 3)) * 255).astype(np.uint8)
    t = np.arange(3 * 16000) / 16000
    return write_mp4(path, frames, fps=16, audio=0.3 * np.sin(2 * np.pi * 220 * t))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor, build_messages

    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny")).eval()
    processor = XEmoGPTProcessor.from_preset("tiny")
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4")
        messages = build_messages(video=str(clip), audio=str(clip), subtitle="I can't believe it.")
        inputs = processor.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
        )
    prompt_len = inputs["input_ids"].shape[1]
    gen_kwargs = dict(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False)

    def run(use_cache: bool) -> tuple[float, torch.Tensor]:
        best, out = float("inf"), None
        for _ in range(args.repeats):
            start = time.perf_counter()
            with torch.no_grad():
                out = model.generate(**inputs, use_cache=use_cache, **gen_kwargs)
            best = min(best, time.perf_counter() - start)
        return best, out

    model.generate(**inputs, max_new_tokens=2)  # warm-up
    cached_s, cached = run(True)
    plain_s, plain = run(False)
    same = torch.equal(cached, plain)
    result = {
        "prompt_tokens": prompt_len,
        "new_tokens": args.new_tokens,
        "kv_cache_tokens_per_s": args.new_tokens / cached_s,
        "no_cache_tokens_per_s": args.new_tokens / plain_s,
        "speedup": plain_s / cached_s,
        "identical_output": same,
    }
    print(f"prompt: {prompt_len} tokens (16 video + audio + text), {args.new_tokens} new tokens, best of {args.repeats}")
    print("| mode | tokens/s |\n|---|---:|")
    print(f"| KV cache | {result['kv_cache_tokens_per_s']:.1f} |")
    print(f"| no cache | {result['no_cache_tokens_per_s']:.1f} |")
    print(f"ratio (KV cache / no cache): {result['speedup']:.1f}x; identical tokens: {same}")
    return result


if __name__ == "__main__":
    main()
