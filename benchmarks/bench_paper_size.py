"""The paper-size XEmoGPT (CLIP ViT-L/14, chinese-hubert-large, Qwen3-4B, LoRA r=512 on q/k/v) on one device.

Measures, with random weights built from ``XEmoGPTConfig.from_preset("paper")`` (no Hub access; real weights with
``--vision/--audio/--text PATH``), bf16 + SDPA:

* stage 3 (§III-D3): one AdamW step at batch 8 x ~800 tokens (16 video tokens + 12 s of audio = 599 audio tokens +
  text, loss on 128 answer tokens), frozen towers fed pixels and waveforms, gradient checkpointing on, the LM head
  on the answer positions only (``logits_to_keep=loss_positions(labels)``, as stage 3 trains): step time and peak
  memory, side by side with checkpointing off (the naive way: the memory ratio is what checkpointing buys);
* the LM head side by side (``--compare-lm-head``, default on): the same stage-3 steps with the logits of the answer
  positions only and of all 8 x 800 positions over the 151,936-token vocabulary (the naive way), each in a process
  of its own (``--stage3-only``) so that each peak (GPU memory, or the process's peak RSS on CPU) is its own; the
  first step's loss of both ways is reported too (same weights, same batch: it must agree);
* ``generate``: tokens/s for 128 new tokens of one clip with the KV cache;
* batched describe: clips/s for a batch of clips (media encoded, 128 new tokens each).

Only torch, transformers, peft and this repository's ``modeling_xemogpt`` are imported (no media decoding: pixels,
waveforms and token ids are synthetic tensors of the right shapes). On a machine without CUDA, or with ``--smoke``,
a one-layer-per-tower variant with tiny widths (but the paper's vocabulary of 151,936 tokens, media and sequence
shapes) runs the same code (the CI smoke test runs it at smaller shapes).

    python benchmarks/bench_paper_size.py --out results.json          # paper widths on a GPU
    python benchmarks/bench_paper_size.py --smoke --out smoke.json     # one layer per tower, CPU
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GiB = 1024**3
LM_HEAD_WAYS = ("answer", "all")
SMOKE_OVERRIDES = dict(  # one layer per tower, tiny widths; vocabulary, media shapes and the conv front end stay the paper's
    vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2),
    audio_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                      conv_dim=(16,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2),
    text_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                     num_key_value_heads=1, head_dim=32, vocab_size=151_936, bos_token_id=None, eos_token_id=2,
                     pad_token_id=0),
    bridge_num_heads=2, video_token_id=1000, audio_token_id=1001, pad_token_id=0, lora_r=16, lora_alpha=16,
)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="one layer per tower, tiny widths (automatic without CUDA)")
    ap.add_argument("--vision", help="CLIP vision checkpoint (path or Hub id) instead of random weights")
    ap.add_argument("--audio", help="HuBERT checkpoint instead of random weights")
    ap.add_argument("--text", help="Qwen3 checkpoint instead of random weights")
    ap.add_argument("--dtype", default=None, help="weights dtype (default: bfloat16 on CUDA, float32 on CPU)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=800, help="sequence length of a training sample (~800)")
    ap.add_argument("--answer-tokens", type=int, default=128)
    ap.add_argument("--audio-seconds", type=float, default=12.0)
    ap.add_argument("--steps", type=int, default=5, help="timed training steps (after 2 warm-up steps)")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--describe-batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2, help="timed generate/describe runs (best is reported)")
    ap.add_argument("--compare-no-checkpointing", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--lm-head", choices=LM_HEAD_WAYS, default="answer",
                    help="stage-3 logits: of the answer positions only (as stage 3 trains) or of all positions")
    ap.add_argument("--compare-lm-head", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the stage-3 steps both ways, each in a process of its own (clean peaks)")
    ap.add_argument("--stage3-only", action="store_true", help="measure the stage-3 steps only (no generation)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    real = [args.vision, args.audio, args.text]
    if any(real) and not all(real):
        ap.error("give all three of --vision, --audio and --text (or none, for random weights)")
    if all(real) and args.smoke:
        ap.error("--smoke builds random tiny towers; it cannot be combined with --vision/--audio/--text")
    return args


# ------------------------------------------------------------------------------------------------------ the model
def build_model(args, device: torch.device, dtype: torch.dtype, smoke: bool):
    """Random weights from the paper preset (or its smoke variant), SDPA attention, on ``device`` in ``dtype``."""
    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration

    if args.vision:
        return XEmoGPTForConditionalGeneration.from_components(
            vision=args.vision, audio=args.audio, text=args.text, dtype=dtype).to(device)
    config = XEmoGPTConfig.from_preset("paper", **(SMOKE_OVERRIDES if smoke else {}))
    for sub in (config.vision_config, config.audio_config, config.text_config):
        sub._attn_implementation = "sdpa"
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # allocate the weights in their final dtype, directly on the device
    try:
        with torch.device(device):
            model = XEmoGPTForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    return model.to(device=device, dtype=dtype)


def attention_used(model) -> dict:
    return {name: getattr(getattr(model, name).config, "_attn_implementation", None)
            for name in ("vision_tower", "audio_tower", "language_model")}


def count(params) -> int:
    return sum(p.numel() for p in params)


# ------------------------------------------------------------------------------------------------------ the inputs
def make_inputs(model, batch: int, tokens: int, answer_tokens: int, audio_seconds: float, device, dtype, gen):
    """Synthetic stage-3 batch: ``[text][<video> x16][text][<audio> x La][prompt][answer]`` per sample."""
    config = model.config
    samples = int(audio_seconds * config.audio_sampling_rate)
    audio_tokens = int(model.audio_output_lengths(torch.tensor([samples]))[0])
    video_tokens = config.num_frames
    prefix, middle = 20, 4
    prompt = tokens - prefix - video_tokens - middle - audio_tokens - answer_tokens
    if prompt < 1:
        raise SystemExit(f"--tokens {tokens} is too short for {video_tokens} video + {audio_tokens} audio + "
                         f"{answer_tokens} answer tokens")
    vocab = min(config.text_config.vocab_size, config.video_token_id, config.audio_token_id)

    def text(n):
        return torch.randint(3, vocab, (batch, n), generator=gen)

    ids = torch.cat([text(prefix), torch.full((batch, video_tokens), config.video_token_id), text(middle),
                     torch.full((batch, audio_tokens), config.audio_token_id), text(prompt),
                     text(answer_tokens)], dim=1)
    labels = ids.clone()
    labels[:, : tokens - answer_tokens] = -100
    size = config.vision_config.image_size
    return {
        "input_ids": ids.to(device), "attention_mask": torch.ones_like(ids).to(device), "labels": labels.to(device),
        "pixel_values_videos": torch.randn(batch, video_tokens, 3, size, size, generator=gen).to(device, dtype),
        "input_values": torch.randn(batch, samples, generator=gen).to(device, dtype),
        "audio_attention_mask": torch.ones(batch, samples, dtype=torch.long).to(device),
        "modality": ["multimodal"] * batch,
    }


def prompt_only(inputs: dict, rows: int, answer_tokens: int) -> dict:
    """The first ``rows`` samples without their answer: what ``describe`` feeds ``generate``."""
    out = {k: v[:rows] for k, v in inputs.items() if k not in ("labels", "modality")}
    out["input_ids"] = out["input_ids"][:, :-answer_tokens]
    out["attention_mask"] = out["attention_mask"][:, :-answer_tokens]
    return out


# ------------------------------------------------------------------------------------------------------ measuring
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak(device) -> dict:
    if device.type == "cuda":
        return {"peak_allocated_gib": torch.cuda.max_memory_allocated(device) / GiB,
                "peak_reserved_gib": torch.cuda.max_memory_reserved(device) / GiB}
    return {"peak_allocated_gib": None, "peak_reserved_gib": None,
            "process_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GiB}


def timed_generate(model, inputs, new_tokens, repeats, device) -> dict:
    """Best of ``repeats`` greedy generations of exactly ``new_tokens`` tokens with the KV cache, and of one token
    (media encoding + prefill), whose difference is the decoding time of the other ``new_tokens - 1``."""

    def best_of(n):
        best = float("inf")
        for _ in range(repeats):
            sync(device)
            start = time.perf_counter()
            out = model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, use_cache=True)
            sync(device)
            best = min(best, time.perf_counter() - start)
        assert out.shape[1] - inputs["input_ids"].shape[1] == n, out.shape
        return best

    with torch.no_grad():
        model.generate(**inputs, max_new_tokens=2, do_sample=False)  # warm-up
        total, first = best_of(new_tokens), best_of(1)
    return {"new_tokens": new_tokens, "seconds": total, "prefill_s": first,
            "decode_tokens_per_s": (new_tokens - 1) / max(total - first, 1e-9)}


def train_steps(model, optimizer, inputs, steps, device, dtype, losses: list | None = None) -> list[float]:
    autocast = torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        with autocast:
            loss = model(**inputs, use_cache=False).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - start)
        if losses is not None:
            losses.append(float(loss.detach()))
    if not torch.isfinite(loss):
        raise RuntimeError(f"training loss is {float(loss)}")
    return times


def lm_head_inputs(inputs: dict, way: str) -> dict:
    """The stage-3 inputs for one way of computing the logits: ``answer`` adds ``logits_to_keep`` (the answer
    positions, ``loss_positions(labels)``: what stage 3 trains with), ``all`` leaves every position to the LM head."""
    from modeling_xemogpt import loss_positions

    if way == "all":
        return inputs
    return {**inputs, "logits_to_keep": loss_positions(inputs["labels"])}


def set_checkpointing(model, on: bool) -> None:
    """Activation (gradient) checkpointing of the towers' and the LLM's layers, by the name the installed
    transformers uses (``activation_checkpointing_*`` since 5.2x, ``gradient_checkpointing_*`` before)."""
    if hasattr(model, "activation_checkpointing_enable"):
        if on:
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.activation_checkpointing_disable()
    elif on:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_disable()


def stage3(model, inputs, args, device, dtype, tokens: int) -> dict:
    """LoRA (the model's own ``lora_config()``: r=512 on q/k/v, bridges and projections trained), AdamW, steps."""
    from peft import get_peft_model

    peft_model = get_peft_model(model, model.lora_config())
    trainable = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-5)
    peft_model.train()
    result = {"lora_r": model.config.lora_r, "lora_targets": list(model.config.lora_target_modules),
              "trainable_parameters": count(trainable),
              "trainable_dtypes": sorted({str(p.dtype).removeprefix("torch.") for p in trainable})}
    result["lm_head"] = args.lm_head
    inputs = lm_head_inputs(inputs, args.lm_head)
    modes = [("checkpointing", True)] + ([("no_checkpointing", False)] if args.compare_no_checkpointing else [])
    for name, on in modes:
        set_checkpointing(model, on)
        try:
            losses = []
            train_steps(peft_model, optimizer, inputs, 2, device, dtype, losses)  # warm-up (allocates AdamW's state)
            if name == "checkpointing":
                result["first_step_loss"] = losses[0]  # the initial weights' loss on this batch
            reset_peak(device)
            times = train_steps(peft_model, optimizer, inputs, args.steps, device, dtype)
        except torch.OutOfMemoryError as exc:
            result[name] = {"error": f"out of memory: {str(exc).splitlines()[0]}"}
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            continue
        step = statistics.median(times)
        result[name] = {"step_time_s": step, "step_times_s": times, "tokens_per_s": args.batch_size * tokens / step,
                        **peak(device)}
    with_ckpt, without = result.get("checkpointing", {}), result.get("no_checkpointing", {})
    if with_ckpt.get("peak_allocated_gib") and without.get("peak_allocated_gib"):
        result["memory_ratio_without_vs_with_checkpointing"] = without["peak_allocated_gib"] / with_ckpt["peak_allocated_gib"]
        result["time_ratio_with_vs_without_checkpointing"] = with_ckpt["step_time_s"] / without["step_time_s"]
    return result


def compare_lm_head(args) -> dict:
    """The stage-3 steps (gradient checkpointing on) with the logits of the answer positions only and of all
    positions, each in a fresh process of this script (``--stage3-only``) so that each peak is its own: peak
    memory and step time both ways, their ratios, and the first step's loss of each (same weights and batch)."""
    import subprocess
    import tempfile

    forwarded = ["--batch-size", str(args.batch_size), "--tokens", str(args.tokens), "--answer-tokens",
                 str(args.answer_tokens), "--audio-seconds", str(args.audio_seconds), "--steps", str(args.steps),
                 "--seed", str(args.seed), "--stage3-only", "--no-compare-lm-head", "--no-compare-no-checkpointing"]
    forwarded += ["--smoke"] if args.smoke else []
    forwarded += ["--dtype", args.dtype] if args.dtype else []
    if args.vision:
        forwarded += ["--vision", args.vision, "--audio", args.audio, "--text", args.text]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for way in LM_HEAD_WAYS:
            path = Path(tmp) / f"{way}.json"
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), *forwarded, "--lm-head", way,
                                   "--out", str(path)], capture_output=True, text=True)
            if proc.returncode != 0:
                out[way] = {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
                continue
            s3 = json.loads(path.read_text())["stage3"]
            out[way] = {"first_step_loss": s3.get("first_step_loss"), **s3["checkpointing"]}
    answer, full = out.get("answer", {}), out.get("all", {})
    if "error" not in answer and "error" not in full:
        out["first_step_loss_abs_diff"] = abs(answer["first_step_loss"] - full["first_step_loss"])
        out["step_time_ratio_all_vs_answer"] = full["step_time_s"] / answer["step_time_s"]
        for key in ("peak_allocated_gib", "peak_reserved_gib", "process_peak_rss_gib"):
            if answer.get(key) and full.get(key):
                out[f"{key.removesuffix('_gib')}_ratio_answer_vs_all"] = answer[key] / full[key]
    return out


# ------------------------------------------------------------------------------------------------------ main
def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    smoke = args.smoke = args.smoke or (device.type == "cpu" and not args.vision)
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    import peft
    import transformers

    t_build = time.perf_counter()
    model = build_model(args, device, dtype, smoke)
    build_s = time.perf_counter() - t_build
    inputs = make_inputs(model, args.batch_size, args.tokens, args.answer_tokens, args.audio_seconds, device, dtype,
                         gen)
    tokens = inputs["input_ids"].shape[1]
    figures = {
        "variant": "real weights" if args.vision else ("smoke: one layer per tower, tiny widths" if smoke
                                                         else "paper widths, random weights"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "transformers": transformers.__version__, "peft": peft.__version__},
        "dtype": str(dtype).removeprefix("torch."), "attention": attention_used(model),
        "parameters": count(model.parameters()), "build_s": build_s, "seed": args.seed,
        "vocab_size": model.config.text_config.vocab_size,
        "shapes": {"batch": args.batch_size, "tokens": tokens, "video_tokens": model.config.num_frames,
                   "audio_tokens": int((inputs["input_ids"][0] == model.config.audio_token_id).sum()),
                   "answer_tokens": args.answer_tokens, "frames": list(inputs["pixel_values_videos"].shape[1:]),
                   "audio_samples": inputs["input_values"].shape[1]},
    }

    if not args.stage3_only:
        model.eval()
        one = prompt_only(inputs, 1, args.answer_tokens)
        g = timed_generate(model, one, args.new_tokens, args.repeats, device)
        figures["generate"] = {"prompt_tokens": one["input_ids"].shape[1], **g,
                               "tokens_per_s": g["new_tokens"] / g["seconds"]}
        rows = min(args.describe_batch, args.batch_size)
        batch = prompt_only(inputs, rows, args.answer_tokens)
        reset_peak(device)
        d = timed_generate(model, batch, args.new_tokens, args.repeats, device)
        figures["describe"] = {"clips": rows, **d, "clips_per_s": rows / d["seconds"], **peak(device)}

    figures["stage3"] = stage3(model, inputs, args, device, dtype, tokens)
    if args.compare_lm_head:
        del model, inputs
        figures["lm_head_comparison"] = compare_lm_head(args)
    figures["wall_time_s"] = time.perf_counter() - t0
    print_table(figures)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=1))
        print(f"figures written to {args.out}")
    return figures


def print_table(f: dict) -> None:
    def gib(x):
        return "-" if x is None else f"{x:.2f} GiB"

    s3 = f["stage3"]
    print(f"XEmoGPT {f['variant']} on {f['device']} ({f['dtype']}, attention {f['attention']['language_model']}); "
          f"{f['parameters'] / 1e6:.1f} M parameters, {s3['trainable_parameters'] / 1e6:.1f} M trainable "
          f"(LoRA r={s3['lora_r']} on {'/'.join(s3['lora_targets'])} + bridges + projections)")
    sh = f["shapes"]
    print(f"stage 3 batch {sh['batch']} x {sh['tokens']} tokens ({sh['video_tokens']} video + {sh['audio_tokens']} "
          f"audio + text, {sh['answer_tokens']} answer tokens)\n")
    print("| measurement | value | peak memory (allocated / reserved) |\n|---|---:|---|")
    head = "answer positions' logits" if s3.get("lm_head") == "answer" else "all positions' logits"
    for name, label in (("checkpointing", f"stage-3 step, gradient checkpointing, {head}"),
                        ("no_checkpointing", f"stage-3 step, no checkpointing (naive), {head}")):
        r = s3.get(name)
        if r is None:
            continue
        if "error" in r:
            print(f"| {label} | {r['error']} | |")
            continue
        print(f"| {label} | {r['step_time_s']:.3f} s ({r['tokens_per_s']:.0f} tokens/s) | "
              f"{gib(r['peak_allocated_gib'])} / {gib(r['peak_reserved_gib'])} |")
    if "generate" in f:
        g, d = f["generate"], f["describe"]
        print(f"| generate, 1 clip ({g['prompt_tokens']}-token prompt), {g['new_tokens']} new tokens, KV cache | "
              f"{g['tokens_per_s']:.1f} tokens/s (media + prefill {g['prefill_s']:.3f} s, then "
              f"{g['decode_tokens_per_s']:.1f} tokens/s) | |")
        print(f"| describe, batch of {d['clips']} clips, {d['new_tokens']} new tokens | {d['clips_per_s']:.2f} "
              f"clips/s | {gib(d['peak_allocated_gib'])} / {gib(d['peak_reserved_gib'])} |")
    c = f.get("lm_head_comparison")
    if c:
        print(f"\nLM head, stage-3 step with gradient checkpointing, each way in a process of its own "
              f"(vocabulary {f['vocab_size']:,}):\n")
        print("| logits of | step time | peak memory (allocated / reserved) | peak RSS of the process | first-step loss |"
              "\n|---|---:|---|---:|---:|")
        for way, label in (("answer", f"the {sh['answer_tokens']} answer positions per sample"),
                           ("all", f"all {sh['tokens']} positions (naive)")):
            r = c.get(way, {})
            if "error" in r or not r:
                print(f"| {label} | {r.get('error', 'not run')} | | | |")
                continue
            print(f"| {label} | {r['step_time_s']:.3f} s | {gib(r['peak_allocated_gib'])} / "
                  f"{gib(r['peak_reserved_gib'])} | {gib(r.get('process_peak_rss_gib'))} | "
                  f"{r['first_step_loss']:.6f} |")
        if "first_step_loss_abs_diff" in c:
            ratios = ", ".join(f"{k.removesuffix('_ratio_answer_vs_all').replace('_', ' ')} x {v:.3f}"
                               for k, v in c.items() if k.endswith("_ratio_answer_vs_all"))
            print(f"\nanswer positions only vs all positions: {ratios}; step time x "
                  f"{1 / c['step_time_ratio_all_vs_answer']:.3f}; first-step loss |diff| "
                  f"{c['first_step_loss_abs_diff']:.1e}")
    if "memory_ratio_without_vs_with_checkpointing" in s3:
        print(f"\ngradient checkpointing: peak memory / {s3['memory_ratio_without_vs_with_checkpointing']:.2f}, "
              f"step time x {s3['time_ratio_with_vs_without_checkpointing']:.2f}")
    # the process of its own is the clean figure (in this one the allocator still holds the describe run's blocks)
    reserved = (c or {}).get("answer", {}).get("peak_reserved_gib") or s3.get("checkpointing", {}).get("peak_reserved_gib")
    if reserved is not None:
        verdict = "fits" if reserved + 0.5 <= 24 else "does not fit"
        print(f"stage 3 with checkpointing and the answer positions' logits {verdict} a 24 GiB GPU (peak reserved "
              f"{reserved:.2f} GiB + ~0.5 GiB CUDA context)")
    print(f"wall time {f['wall_time_s']:.1f} s")


if __name__ == "__main__":
    main()
