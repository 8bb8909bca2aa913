"""``xemogpt convert-official``: the authors' released checkpoint as an ordinary checkpoint of this package
(:mod:`modeling_xemogpt.convert_official`, also ``python -m modeling_xemogpt.convert_official``)."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    from modeling_xemogpt.convert_official import add_arguments

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
    from modeling_xemogpt.convert_official import run as convert

    return convert(args)
