"""``xemogpt convert-official``: the authors' released checkpoint as an ordinary checkpoint of this package
(:mod:`modeling_xemogpt.convert_official`, also ``python -m modeling_xemogpt.convert_official``, which uses these
options). The parser imports nothing of the model: importing ``modeling_xemogpt`` registers its Auto classes, and
``xemogpt`` processes must load checkpoints as remote code."""

from __future__ import annotations

import argparse

def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--checkpoint", required=True, help="the authors' xemogpt.ckpt (torch.save of a state dict)")
    parser.add_argument("--vision", required=True, help="CLIP checkpoint (Hub id or path), e.g. openai/clip-vit-large-patch14")
    parser.add_argument("--audio", required=True, help="HuBERT checkpoint, e.g. TencentGameMate/chinese-hubert-large")
    parser.add_argument("--text", required=True, help="Qwen3 checkpoint, e.g. Qwen/Qwen3-4B")
    parser.add_argument("--lora-alpha", type=int, default=None,
                        help="LoRA alpha the checkpoint was trained with (not stored in it; default: the release's, 512)")
    parser.add_argument("--merge-lora", action="store_true",
                        help="fold the LoRA factors into the LLM weights (default: keep them as LoRA layers)")
    parser.add_argument("--out", required=True, help="output directory (a new checkpoint)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an existing output directory")
    return parser


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "convert-official",
        help="convert the authors' released xemogpt.ckpt into a checkpoint of this package",
        description="Convert the authors' released XEmoGPT checkpoint (torch.save of a state dict, full or trainable-only) "
                    "into a remote-code checkpoint: safetensors, config, the processor in the authors' prompt style, "
                    "their decoding as generation_config.json, a model card and conversion.json.",
    )
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from modeling_xemogpt.convert_official import convert_official_checkpoint, report_line

    alpha = {} if args.lora_alpha is None else {"lora_alpha": args.lora_alpha}
    report = convert_official_checkpoint(args.checkpoint, args.vision, args.audio, args.text, args.out,
                                         merge_lora=args.merge_lora, overwrite=args.overwrite, **alpha)
    print(report_line(report, args.checkpoint, args.out))
    return 0
