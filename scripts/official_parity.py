"""Parity of a converted checkpoint with the authors' own code, from the media files.

    python scripts/official_parity.py REFERENCE_DIR --backbones BACKBONES_DIR --video clip.mp4 --audio clip.wav \\
        --subtitle "..." --answer "..." [--lora-alpha 32] [--out docs/results/official_parity]

REFERENCE_DIR holds what the authors' code (their ``model/`` and ``utils/`` under transformers 4.54 / peft 0.16, run
in a scratch environment outside this project) produced for one clip with random tiny weights: ``full.ckpt`` and
``trainable.ckpt`` (their state dict, whole and trainable-only), ``media.pt`` (their decoded frames, CLIP pixels,
waveform and HuBERT inputs), ``teacher_forced.pt`` (loss and logits of their ``forward`` with the answer),
``next_token.pt`` (logits at the end of their prompt), ``greedy.pt`` (24 greedy tokens of their ``generate``) and
``tokens.json`` (their prompt's token ids). BACKBONES_DIR holds the backbones it used (``clip/``, ``hubert/``,
``qwen3/``).

This script converts both checkpoints (LoRA kept and merged), loads each with ``AutoModel`` / ``AutoProcessor``,
builds the inputs through the processor from the media files (the official prompt style), and reports the
differences: prompt ids, pixels, waveform, media tokens, teacher-forced loss and logits, next-token logits, greedy
tokens. It writes ``parity_{wav,mp4}.json`` and ``.md`` into ``--out``. Nothing of the authors' code is imported here.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from modeling_xemogpt.convert_official import convert_official_checkpoint  # noqa: E402


def _max_abs(a, b) -> float:
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    if a.shape != b.shape:
        return float("nan")
    return float((a - b).abs().max()) if a.numel() else 0.0


def measure(ckpt_dir: Path, ref: Path, args) -> dict:
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(ckpt_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(ckpt_dir, trust_remote_code=True)
    media = torch.load(ref / "media.pt", weights_only=False)
    outputs = ref / args.audio_variant if (ref / args.audio_variant).is_dir() else ref  # the run with that audio
    teacher = torch.load(outputs / "teacher_forced.pt", weights_only=False)
    next_token = torch.load(outputs / "next_token.pt", weights_only=False)
    greedy = torch.load(outputs / "greedy.pt", weights_only=False)
    tokens = json.loads((outputs / "tokens.json").read_text())
    authors_input_values = media[f"input_values_{args.audio_variant}"]

    messages = processor.build_messages(video=args.video, audio=args.audio, subtitle=args.subtitle)
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    answered = processor.apply_chat_template(
        processor.build_messages(video=args.video, audio=args.audio, subtitle=args.subtitle, answer=args.answer),
        tokenize=True, return_dict=True, return_tensors="pt")
    ids = prompt["input_ids"][0].tolist()
    n_audio, n_video = ids.count(model.config.audio_token_id), ids.count(model.config.video_token_id)
    authors_ids = ([tokens["pad_token_id"]] + tokens["segments_ids"][0] + [model.config.audio_token_id] * n_audio
                   + tokens["segments_ids"][1] + [model.config.video_token_id] * n_video + tokens["segments_ids"][2])
    report = {
        "prompt_tokens": len(ids),
        "prompt_ids_equal": ids == authors_ids,
        "audio_tokens": n_audio,
        "video_tokens": n_video,
        "answer_ids_equal": answered["input_ids"][0, len(ids):].tolist() == tokens["target_ids"],
        "pixels_max_abs_diff": _max_abs(prompt["pixel_values_videos"][0], media["pixel_values"]),
        "waveform_max_abs_diff": _max_abs(prompt["input_values"][0], authors_input_values[0]),
    }
    labels = answered["input_ids"].clone()
    labels[:, : len(ids)] = -100
    inputs = {k: v for k, v in answered.items() if k not in ("labels",)}
    with torch.no_grad():
        out = model(**inputs, labels=labels)
        report["loss"] = float(out.loss)
        report["authors_loss"] = float(teacher["loss"])
        report["loss_abs_diff"] = abs(float(out.loss) - float(teacher["loss"]))
        report["teacher_forced_logits_max_abs_diff"] = _max_abs(out.logits, teacher["logits"])
        report["media_tokens_max_abs_diff"] = max(
            _max_abs(out.video_hidden_states[0], teacher["video_embeds"]),
            _max_abs(out.audio_hidden_states[0], teacher["audio_embeds"]))
        prompt_out = model(**prompt)
        report["next_token_logits_max_abs_diff"] = _max_abs(prompt_out.logits[:, -1], next_token["next_token_logits"])
        generated = model.generate(**prompt, do_sample=False, num_beams=1, max_new_tokens=24, suppress_tokens=None,
                                   eos_token_id=None, min_new_tokens=24)
    new = generated[0, len(ids):].tolist()
    report["greedy_tokens"] = new
    report["greedy_equal"] = new == greedy["token_ids"].reshape(-1).tolist()[: len(new)]
    # the same model on the authors' own pixel and waveform tensors: the model alone, without the media loaders
    with torch.no_grad():
        exact = dict(prompt)
        exact["pixel_values_videos"] = media["pixel_values"][None]
        exact["input_values"] = authors_input_values
        exact.pop("audio_attention_mask", None)
        report["next_token_logits_max_abs_diff_authors_media"] = _max_abs(
            model(**exact).logits[:, -1], next_token["next_token_logits"])
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference", type=Path)
    parser.add_argument("--backbones", type=Path, required=True)
    parser.add_argument("--video", required=True)
    parser.add_argument("--audio", required=True)
    parser.add_argument("--subtitle", required=True)
    parser.add_argument("--answer", required=True)
    parser.add_argument("--audio-variant", default="wav", choices=["wav", "mp4"],
                        help="which of the authors' runs --audio corresponds to (their audio from the .wav or the .mp4)")
    parser.add_argument("--lora-alpha", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("docs/results/official_parity"))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, ckpt, merge in (("full, LoRA kept", "full.ckpt", False), ("full, LoRA merged", "full.ckpt", True),
                                  ("trainable-only, LoRA kept", "trainable.ckpt", False)):
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            b = args.backbones
            convert_official_checkpoint(args.reference / ckpt, b / "clip", b / "hubert", b / "qwen3", out,
                                        lora_alpha=args.lora_alpha, merge_lora=merge)
            results[name] = measure(out, args.reference, args)
            print(name, json.dumps(results[name]))
    args.out.mkdir(parents=True, exist_ok=True)
    results = {"audio": args.audio, "video": args.video, "checkpoints": results}
    (args.out / f"parity_{args.audio_variant}.json").write_text(json.dumps(results, indent=2) + "\n")
    rows = ["| checkpoint | prompt ids | answer ids | pixels max abs Δ | waveform max abs Δ | media tokens max abs Δ | "
            "loss (authors) | loss abs Δ | teacher-forced logits max abs Δ | next-token logits max abs Δ "
            "(authors' media tensors) | 24 greedy tokens |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, r in results["checkpoints"].items():
        rows.append(
            f"| {name} | {'equal' if r['prompt_ids_equal'] else 'DIFFER'} ({r['prompt_tokens']}) | "
            f"{'equal' if r['answer_ids_equal'] else 'DIFFER'} | {r['pixels_max_abs_diff']:.2e} | "
            f"{r['waveform_max_abs_diff']:.2e} | {r['media_tokens_max_abs_diff']:.2e} | {r['loss']:.6f} "
            f"({r['authors_loss']:.6f}) | {r['loss_abs_diff']:.2e} | {r['teacher_forced_logits_max_abs_diff']:.2e} | "
            f"{r['next_token_logits_max_abs_diff']:.2e} ({r['next_token_logits_max_abs_diff_authors_media']:.2e}) | "
            f"{'equal' if r['greedy_equal'] else 'DIFFER'} |")
    (args.out / f"parity_{args.audio_variant}.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
