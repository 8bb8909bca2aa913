"""Convert the authors' released XEmoGPT checkpoint into an ordinary checkpoint of this package.

    python -m modeling_xemogpt.convert_official --checkpoint xemogpt.ckpt \\
        --vision openai/clip-vit-large-patch14 --audio TencentGameMate/chinese-hubert-large --text Qwen/Qwen3-4B \\
        [--lora-alpha 512] [--merge-lora] --out xemogpt-official

(also ``xemogpt convert-official ...``). The release is a pickle ``state_dict`` (``torch.save``); it is read with
``torch.load(weights_only=True, mmap=True)``, so no code in it runs and its tensors stay on disk until written out.
A full state dict and a trainable-only one are both accepted: frozen backbone weights missing from the file come
from ``--vision`` / ``--audio`` / ``--text`` (Hub ids or local paths; their configs, tokenizer and processors are
read in any case). Key map: :mod:`.official_layout`. The LoRA rank is read from the tensors; ``--lora-alpha`` is not
in the file (the release uses 512). Without ``--merge-lora`` the LoRA factors stay as PEFT layers inside the LLM
(``config.text_lora``: the authors' computation, factor for factor); with it they are folded into the weights.

The output directory is a remote-code checkpoint like any other (``AutoModel`` / ``AutoProcessor`` with
``trust_remote_code=True``, ``xemogpt describe --model``, stage 3/4 ``--model.path``): safetensors, config, the
processor in the authors' prompt style (``prompt_style="official"``), ``generation_config.json`` with the authors'
decoding (beam 5, sampling, temperature 0.3, top-p 0.9, up to 756 new tokens, on top of the LLM's own generation
defaults as their ``generate`` leaves them), a model card that says where the weights came from, ``conversion.json``
(what was read, dropped and initialised fresh), and ``stage1_vecb/`` / ``stage2_aecb/``: the bridges with the
authors' stage-1/2 heads, as stage 1/2 outputs, so pretraining can go on from them.

This script is not part of the remote code (the model never imports it) and, like transformers' ``convert_*``
scripts, it uses the processor package to write the processor.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

from .configuration_xemogpt import XEmoGPTConfig
from .official_layout import (
    FROZEN_PREFIXES,
    LLM_PREFIX,
    bridge_copy,
    lora_factors,
    lora_rank_and_targets,
    route_key,
)

# the authors' decoding (their generate's defaults), applied on top of the LLM's generation_config.json
OFFICIAL_DECODING = dict(num_beams=5, do_sample=True, temperature=0.3, top_p=0.9, max_new_tokens=756, repetition_penalty=1.0)
RELEASE_LORA_ALPHA = 512  # not stored in the release's file
_SHOWN = 8  # keys listed per problem in an error message


class ConversionError(ValueError):
    """A checkpoint that cannot be converted; the message is one line naming the file and every problem."""


def load_release_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a ``torch.save``-d state dict, read without running pickled code (``weights_only=True``) and
    memory-mapped when the file is in torch's zip format. A Lightning-style ``{"state_dict": {...}}`` is unwrapped."""
    path = Path(path)
    if not path.is_file():
        raise ConversionError(f"{path}: checkpoint file not found")
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # the legacy (non-zip) format cannot be memory-mapped
            if "mmap" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - every reason a file is not a safe tensor checkpoint is reported alike
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"{path}: not a checkpoint torch.load can read safely ({type(exc).__name__}: {first_line})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConversionError(f"{path}: expected a state dict of tensors (torch.save(model.state_dict())), got {type(state).__name__}")
    return state


def _listing(title: str, keys) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - _SHOWN} more)" if len(keys) > _SHOWN else ""
    return f"{len(keys)} {title}: {', '.join(keys[:_SHOWN])}{more}"


def _layer_count(state: dict, prefix: str) -> int:
    indices = {int(k[len(prefix):].split(".", 1)[0]) for k in state if k.startswith(prefix)}
    return max(indices) + 1 if indices else 0


def official_config(state: dict, vision, audio, text, tokenizer, lora_alpha: int, merge_lora: bool) -> XEmoGPTConfig:
    """The ``XEmoGPTConfig`` of a release: backbone configs from the sources, bridge sizes from the tensors."""
    from transformers import AutoConfig, CLIPVisionConfig

    num_vecb = _layer_count(state, "visual_encoder.visual_alignment_layer.")
    num_aecb = _layer_count(state, "audio_encoder.audio_alignment_layer.")
    if num_vecb != num_aecb or num_vecb == 0:
        raise ConversionError(f"expected as many VECB as AECB layers (at least one), found {num_vecb} and {num_aecb}")
    position = state.get("visual_encoder.position_embedding")
    if position is None:
        raise ConversionError("no visual_encoder.position_embedding: not an XEmoGPT release checkpoint")
    extra = {}
    if "visual_encoder.visual_project.weight" in state:
        extra["contrastive_dim"] = int(state["visual_encoder.visual_project.weight"].shape[0])
    if "visual_encoder.text_project.weight" in state:
        extra["vecb_text_embed_dim"] = int(state["visual_encoder.text_project.weight"].shape[1])
    lora = lora_factors({k[len(LLM_PREFIX):]: v for k, v in state.items()
                         if k.startswith(LLM_PREFIX) and ".lora_" in k})
    text_lora = None
    if lora:
        lora_r, targets = lora_rank_and_targets(lora)
        extra.update(lora_r=lora_r, lora_alpha=lora_alpha, lora_target_modules=targets)
        if not merge_lora:
            text_lora = dict(r=lora_r, lora_alpha=lora_alpha, target_modules=targets, lora_dropout=0.05)
    video_id, audio_id = tokenizer.convert_tokens_to_ids(["<video>", "<audio>"])
    return XEmoGPTConfig(
        vision_config=CLIPVisionConfig.from_pretrained(str(vision)),
        audio_config=AutoConfig.from_pretrained(str(audio)),
        text_config=AutoConfig.from_pretrained(str(text)),
        bridge_layer_type="backbone",
        bridge_num_layers=num_vecb,
        num_frames=int(position.shape[-2]),
        max_audio_seconds=12.0,
        vision_feature_select="cls",
        video_token_id=video_id,
        audio_token_id=audio_id,
        pad_token_id=tokenizer.pad_token_id,
        text_lora=text_lora,
        backbones={"vision": str(vision), "audio": str(audio), "text": str(text)},
        dtype=str(next(iter(state.values())).dtype).replace("torch.", ""),
        **extra,
    )


def _fold_lora(weights: dict, factors: dict, scale: float) -> None:
    """``W <- W + scale * B A`` for every LoRA target, computed in float32."""
    for module, pair in factors.items():
        key = f"language_model.{module}.weight"
        if key not in weights or set(pair) != {"A", "B"}:
            raise ConversionError(f"LoRA factors of {module} have no base weight or miss a factor ({sorted(pair)})")
        base = weights[key]
        weights[key] = (base.float() + scale * (pair["B"].float() @ pair["A"].float())).to(base.dtype)


def _frozen_weights_from_sources(missing: set[str], vision, audio, text) -> dict[str, torch.Tensor]:
    """The frozen backbone weights a trainable-only checkpoint leaves out, from the backbone checkpoints (loaded as
    the classes the model holds, so their state-dict keys are the model's without the attribute prefix)."""
    from transformers import AutoModel, AutoModelForCausalLM, CLIPVisionModel

    found = {}
    for prefix, load in (("vision_tower.", lambda: CLIPVisionModel.from_pretrained(str(vision))),
                         ("audio_tower.", lambda: AutoModel.from_pretrained(str(audio))),
                         ("language_model.", lambda: AutoModelForCausalLM.from_pretrained(str(text)))):
        wanted = {k for k in missing if k.startswith(prefix)}
        if not wanted:
            continue
        backbone_state = load().state_dict()
        for key in wanted:  # a LoRA-kept target's base weight is the plain weight of the backbone
            source_key = key[len(prefix):].replace(".base_layer.", ".")
            if source_key in backbone_state:
                found[key] = backbone_state[source_key]
    return found


def convert_official_checkpoint(checkpoint, vision, audio, text, out, lora_alpha: int = RELEASE_LORA_ALPHA,
                                merge_lora: bool = False, overwrite: bool = False) -> dict:
    """Convert ``checkpoint`` (the authors' ``xemogpt.ckpt``) into ``out``; returns the conversion report."""
    from processing_xemogpt import XEmoGPTProcessor

    from .modeling_aecb import AECBForPretraining
    from .modeling_vecb import VECBForPretraining
    from .modeling_xemogpt import XEmoGPTForConditionalGeneration

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise ConversionError(f"{out}: output directory exists and is not empty (pass --overwrite to replace it)")
    state = load_release_state_dict(checkpoint)
    has_lora = any(key.startswith(LLM_PREFIX) and ".lora_" in key for key in state)
    processor = XEmoGPTProcessor.from_components(vision=vision, audio=audio, text=text, prompt_style="official")
    config = official_config(state, vision, audio, text, processor.tokenizer, lora_alpha, merge_lora)
    with torch.device("meta"):
        skeleton = XEmoGPTForConditionalGeneration(config)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    vision_prefix = "vision_tower.vision_model." if any(k.startswith("vision_tower.vision_model.") for k in expected) else "vision_tower."

    weights: dict[str, torch.Tensor] = {}
    stages: dict[str, dict[str, torch.Tensor]] = {"stage1": {}, "stage2": {}}
    lora, unused, unknown = {}, [], []
    for key, tensor in state.items():
        routed = route_key(key, vision_prefix, keep_lora=not merge_lora)
        if routed is None:
            unknown.append(key)
            continue
        target, ours = routed
        if target == "unused":
            unused.append(key)
        elif target == "lora":
            lora[ours] = tensor
        elif target == "model":
            if ours == "vecb.position_embedding":
                tensor = tensor.reshape(tensor.shape[-2], tensor.shape[-1])
            weights[ours] = tensor
            copy = bridge_copy(ours)
            if copy:
                stages[copy[0]][copy[1]] = tensor
        else:
            stages[target][ours] = tensor
    if unknown:
        raise ConversionError(f"{checkpoint}: {_listing('keys not in the XEmoGPT release layout', unknown)}")

    missing = set(expected) - set(weights)
    from_sources = {k for k in missing if k.startswith(("vision_tower.", "audio_tower.", "language_model."))
                    and ".lora_" not in k}
    if from_sources:
        weights.update(_frozen_weights_from_sources(from_sources, vision, audio, text))
    if lora:
        _fold_lora(weights, lora_factors(lora), lora_alpha / config.lora_r)
    tied = bool(getattr(config.text_config, "tie_word_embeddings", False))
    head, embed = "language_model.lm_head.weight", "language_model.model.embed_tokens.weight"
    if tied and head in weights and embed in weights and not torch.equal(weights[head], weights[embed]):
        raise ConversionError(f"{checkpoint}: lm_head differs from embed_tokens but {text} ties them")
    if tied and head not in weights and embed in weights:
        weights[head] = weights[embed]

    problems = []
    missing = set(expected) - set(weights)
    if missing:
        problems.append(_listing("missing keys (neither in the checkpoint nor in the backbones)", missing))
    unexpected = set(weights) - set(expected)
    if unexpected:
        problems.append(_listing("unexpected keys", unexpected))
    mismatched = [f"{k} {tuple(weights[k].shape)} vs {expected[k]}" for k in sorted(set(weights) & set(expected))
                  if tuple(weights[k].shape) != expected[k]]
    if mismatched:
        problems.append(_listing("shape mismatches (checkpoint vs model)", mismatched))
    if problems:
        raise ConversionError(f"{checkpoint}: " + "; ".join(problems))

    out.mkdir(parents=True, exist_ok=True)
    skeleton.generation_config = official_generation_config(text, skeleton.generation_config)
    skeleton.save_pretrained(out, state_dict=weights)
    processor.save_pretrained(out)
    fresh = {}
    for stage, cls, subdir in (("stage1", VECBForPretraining, "stage1_vecb"), ("stage2", AECBForPretraining, "stage2_aecb")):
        model = cls(config)
        result = model.load_state_dict(stages[stage], strict=False)
        if result.unexpected_keys:
            raise ConversionError(f"{checkpoint}: {_listing(f'{stage} keys the {cls.__name__} lacks', result.unexpected_keys)}")
        fresh[subdir] = sorted(result.missing_keys)
        model.save_pretrained(out / subdir)
    report = {
        "source": str(Path(checkpoint).resolve()),
        "source_sha256": _sha256(checkpoint),
        "backbones": {"vision": str(vision), "audio": str(audio), "text": str(text)},
        "tensors_read": len(state),
        "trainable_only": bool(from_sources),
        "from_backbones": len(from_sources),
        "lora": {"r": config.lora_r, "alpha": lora_alpha, "merged": merge_lora} if has_lora else None,
        "unused_keys": len(unused),
        "initialised_fresh": fresh,
    }
    (out / "conversion.json").write_text(json.dumps(report, indent=2) + "\n")
    write_release_card(out, report, config)
    return report


def write_release_card(out: Path, report: dict, config: XEmoGPTConfig) -> Path:
    """The model card of a converted release: where the weights came from, how they were converted, how to use it."""
    from hub_cards import write_model_card

    lora = report["lora"]
    return write_model_card(
        out,
        model_name="XEmoGPT (the authors' release, converted)",
        base_models=report["backbones"],
        recipe={"weights": "the authors' released checkpoint, converted (no training here)",
                "bridge_layer_type": config.bridge_layer_type, "bridge_num_layers": config.bridge_num_layers,
                "lora": (f"r={lora['r']} alpha={lora['alpha']} ({'merged' if lora['merged'] else 'kept as LoRA layers'})"
                         if lora else "none"),
                "prompt_style": "official (the authors' ###Human/###Assistant prompt)",
                "decoding": "generation_config.json: the authors' (5 beams, sampling, temperature 0.3, top-p 0.9)"},
        intended_use="Running the XEmoGPT authors' released model on your own clips with this package (describe, "
                     "serve, eval), and as a starting point for further training (stages 3 and 4).",
        limitations="Trained by the authors; its training data and results are theirs (see the XEmoGPT paper). This "
                    "conversion adds no training and no evaluation. The release states no licence: check the authors' "
                    "terms before redistributing.",
        license="unknown",
        source=(f"converted with `xemogpt convert-official` from the authors' released {Path(report['source']).name} "
                f"(sha256 {report['source_sha256']}, {report['tensors_read']} tensors"
                + (", trainable-only: frozen weights from the backbones" if report["trainable_only"] else "") + ")"),
        tags=["emotion-recognition", "multimodal", "xemogpt"],
    )


def official_generation_config(text, fallback):
    """The LLM's own generation defaults (e.g. Qwen3's top_k, eos ids), with the authors' decoding on top."""
    from transformers import GenerationConfig

    try:
        generation_config = GenerationConfig.from_pretrained(str(text))
    except OSError:  # a backbone without generation_config.json
        generation_config = fallback
    generation_config.update(**OFFICIAL_DECODING)
    if fallback is not None:
        generation_config.suppress_tokens = fallback.suppress_tokens
        if generation_config.pad_token_id is None:
            generation_config.pad_token_id = fallback.pad_token_id
    return generation_config


def _sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 24), b""):
            digest.update(block)
    return digest.hexdigest()


def report_line(report: dict, checkpoint, out) -> str:
    """The one line a conversion prints."""
    lora = report["lora"]
    return (f"converted {report['tensors_read']} tensors of {checkpoint} into {out}"
            + (f" (LoRA r={lora['r']} alpha={lora['alpha']}, {'merged' if lora['merged'] else 'kept as LoRA layers'})"
               if lora else "")
            + (f"; {report['from_backbones']} frozen tensors from the backbones" if report["trainable_only"] else ""))


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of the conversion (``xemogpt convert-official`` forwards its arguments to :func:`main`)."""
    parser.add_argument("--checkpoint", required=True, help="the authors' xemogpt.ckpt (torch.save of a state dict)")
    parser.add_argument("--vision", required=True,
                        help="CLIP checkpoint (Hub id or path), e.g. openai/clip-vit-large-patch14")
    parser.add_argument("--audio", required=True, help="HuBERT checkpoint, e.g. TencentGameMate/chinese-hubert-large")
    parser.add_argument("--text", required=True, help="Qwen3 checkpoint, e.g. Qwen/Qwen3-4B")
    parser.add_argument("--lora-alpha", type=int, default=None,
                        help="LoRA alpha the checkpoint was trained with (not stored in it; default: the release's, 512)")
    parser.add_argument("--merge-lora", action="store_true",
                        help="fold the LoRA factors into the LLM weights (default: keep them as LoRA layers)")
    parser.add_argument("--out", required=True, help="output directory (a new checkpoint)")
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an existing output directory")
    return parser


def main(argv=None, prog: str = "python -m modeling_xemogpt.convert_official") -> int:
    """Parse the conversion's options, convert, print one line; a problem is one line on stderr and exit code 1."""
    parser = add_arguments(argparse.ArgumentParser(
        prog=prog, description="Convert the authors' released XEmoGPT checkpoint (torch.save of a state dict, full or "
        "trainable-only) into a remote-code checkpoint of this package: safetensors, config, the processor in the "
        "authors' prompt style, their decoding as generation_config.json, a model card and conversion.json."))
    args = parser.parse_args(argv)
    alpha = {} if args.lora_alpha is None else {"lora_alpha": args.lora_alpha}
    try:
        report = convert_official_checkpoint(args.checkpoint, args.vision, args.audio, args.text, args.out,
                                             merge_lora=args.merge_lora, overwrite=args.overwrite, **alpha)
    except (ConversionError, OSError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    print(report_line(report, args.checkpoint, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
