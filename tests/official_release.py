"""A tiny stand-in for the authors' released ``xemogpt.ckpt``: the same key names and layout, written here from their
module layout with transformers' and PEFT's own classes (a full ``CLIPModel`` under ``visual_encoder.clip``, two
``CLIPEncoderLayer`` and the stage-1 heads, ``HubertModel`` under ``audio_encoder.audio_encoder`` with two
``HubertEncoderLayer``, a PEFT-LoRA Qwen3 under ``llm_model``), random weights, and the three backbone folders the
converter reads (``clip/``, ``hubert/``, ``qwen3/``).

``ReleaseFixture.reference_*`` compute what the release computes with those same components, independently of this
package's model code, so tests can compare the converted model against them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from modeling_xemogpt.configuration_xemogpt import _TINY_AUDIO, _TINY_TEXT, _TINY_VISION

HEAD_DIM = 48  # the release's 768-d stage-1/2 heads, smaller
LORA_R, LORA_ALPHA = 16, 32  # scale 2: a wrong alpha shows
NUM_FRAMES = 16


@dataclass
class ReleaseFixture:
    backbones: Path
    full: Path
    trainable: Path
    clip: nn.Module
    hubert: nn.Module
    llm: nn.Module  # the PEFT model
    vecb_layers: nn.ModuleList
    aecb_layers: nn.ModuleList
    position_embedding: torch.Tensor
    visual_llm_project: nn.Linear
    audio_llm_project: nn.Linear

    @property
    def vision(self) -> Path:
        return self.backbones / "clip"

    @property
    def audio(self) -> Path:
        return self.backbones / "hubert"

    @property
    def text(self) -> Path:
        return self.backbones / "qwen3"

    @torch.no_grad()
    def reference_video_tokens(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """``[T, 3, H, W]`` frames -> the release's 16 video tokens: CLS before post-layernorm + position embedding,
        the CLIP layers, the LLM projection."""
        hidden = self.clip.vision_model(pixel_values=pixel_values).last_hidden_state[:, 0][None]
        hidden = hidden + self.position_embedding[:, : hidden.shape[1]]
        for layer in self.vecb_layers:
            hidden = layer(hidden, None)
        return self.visual_llm_project(hidden)[0]

    @torch.no_grad()
    def reference_audio_tokens(self, input_values: torch.Tensor) -> torch.Tensor:
        hidden = self.hubert(input_values[None]).last_hidden_state
        for layer in self.aecb_layers:
            hidden = layer(hidden)
        return self.audio_llm_project(hidden)[0]

    @torch.no_grad()
    def reference_logits(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.llm(inputs_embeds=inputs_embeds).logits


def _clip_text_tokenizer(vocab_size: int):
    """A word-level tokenizer that fits the CLIP text tower's vocabulary (pad 0, unk 1, eos 2): stage 1's caption
    encoder, ``clip:<backbones/clip>``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    words = ("a the person smiles frowns mouth brows raised lowered head nods shakes voice pitch high low rising "
             "falling loud soft fast slow scene warm cold bright dark happy sad angry surprised neutral and with is")
    tok.train_from_iterator([words], trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<unk>", "<eos>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>",
                                   model_max_length=77)


def _randomise(module: nn.Module, generator: torch.Generator) -> None:
    for param in module.parameters():
        param.data.normal_(0.0, 0.05, generator=generator)


TINY_CLIP_TEXT = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, vocab_size=99,
                      eos_token_id=2, pad_token_id=0, bos_token_id=1)


def build_release(folder: Path, vision: dict = _TINY_VISION, clip_text: dict = TINY_CLIP_TEXT, audio: dict = _TINY_AUDIO,
                  text: dict = _TINY_TEXT, projection_dim: int = 24, head_dim: int = HEAD_DIM, lora_r: int = LORA_R,
                  lora_alpha: int = LORA_ALPHA) -> ReleaseFixture:
    """Write ``folder/backbones/{clip,hubert,qwen3}``, ``folder/full.ckpt`` and ``folder/trainable.ckpt``.

    Sizes default to the tiny preset; ``benchmarks/bench_convert_memory.py`` passes the paper's widths."""
    from peft import LoraConfig, get_peft_model
    from transformers import (
        CLIPConfig, CLIPImageProcessor, CLIPModel, HubertConfig, HubertModel, Qwen3Config, Qwen3ForCausalLM,
        Wav2Vec2FeatureExtractor,
    )
    from transformers.models.clip.modeling_clip import CLIPEncoderLayer
    from transformers.models.hubert.modeling_hubert import HubertEncoderLayer

    from processing_xemogpt.tokenization_tiny import build_tiny_tokenizer

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    backbones = folder / "backbones"
    clip = CLIPModel(CLIPConfig(vision_config={**vision, "projection_dim": projection_dim},
                                text_config={**clip_text, "projection_dim": projection_dim},
                                projection_dim=projection_dim)).eval()
    clip.save_pretrained(backbones / "clip")
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(backbones / "clip")
    _clip_text_tokenizer(clip_text["vocab_size"]).save_pretrained(backbones / "clip")
    hubert = HubertModel(HubertConfig(**audio)).eval()
    hubert.save_pretrained(backbones / "hubert")
    Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True,
                             return_attention_mask=True).save_pretrained(backbones / "hubert")
    qwen = Qwen3ForCausalLM(Qwen3Config(**text)).eval()
    qwen.save_pretrained(backbones / "qwen3")
    build_tiny_tokenizer().save_pretrained(backbones / "qwen3")

    vision_hidden, audio_hidden = clip.config.vision_config.hidden_size, hubert.config.hidden_size
    text_hidden = qwen.config.hidden_size
    clip.config.vision_config._attn_implementation = "eager"
    hubert.config._attn_implementation = "eager"
    vecb_layers = nn.ModuleList(CLIPEncoderLayer(clip.config.vision_config) for _ in range(2)).eval()
    aecb_layers = nn.ModuleList(HubertEncoderLayer(hubert.config) for _ in range(2)).eval()
    position_embedding = torch.zeros(1, NUM_FRAMES, vision_hidden).normal_(0, 0.02, generator=generator)
    visual_llm_project, audio_llm_project = nn.Linear(vision_hidden, text_hidden), nn.Linear(audio_hidden, text_hidden)
    heads = {
        "visual_encoder.attention_pooling.attn_vector": torch.randn(vision_hidden, generator=generator),
        **{f"visual_encoder.visual_project.{k}": v for k, v in nn.Linear(vision_hidden, head_dim).state_dict().items()},
        **{f"visual_encoder.text_project.{k}": v for k, v in nn.Linear(projection_dim, head_dim).state_dict().items()},
        **{f"visual_encoder.temporal_disc_head.{k}": v for k, v in
           nn.Sequential(nn.Linear(head_dim, head_dim), nn.ReLU(), nn.Linear(head_dim, 1)).state_dict().items()},
        **{f"visual_encoder.frame_reconstructor.{k}": v for k, v in nn.Linear(vision_hidden, vision_hidden).state_dict().items()},
        **{f"audio_encoder.audio_project.{k}": v for k, v in nn.Linear(audio_hidden, head_dim).state_dict().items()},
    }
    llm = get_peft_model(qwen, LoraConfig(r=lora_r, lora_alpha=lora_alpha, lora_dropout=0.05, bias="none",
                                          target_modules=["q_proj", "k_proj", "v_proj"], task_type="CAUSAL_LM")).eval()
    trainable = [vecb_layers, aecb_layers, visual_llm_project, audio_llm_project]
    for module in trainable:
        _randomise(module, generator)
    for name, param in llm.named_parameters():
        if "lora_" in name:  # PEFT starts B at zero: random factors make the LoRA path count
            param.data.normal_(0.0, 0.05, generator=generator)

    full = {f"llm_model.{k}": v for k, v in llm.state_dict().items()}
    full.update({f"visual_encoder.clip.{k}": v for k, v in clip.state_dict().items()})
    full.update({f"visual_encoder.visual_alignment_layer.{k}": v for k, v in vecb_layers.state_dict().items()})
    full["visual_encoder.position_embedding"] = position_embedding
    full.update(heads)
    full.update({f"visual_llm_project.{k}": v for k, v in visual_llm_project.state_dict().items()})
    full.update({f"audio_encoder.audio_encoder.{k}": v for k, v in hubert.state_dict().items()})
    full.update({f"audio_encoder.audio_alignment_layer.{k}": v for k, v in aecb_layers.state_dict().items()})
    full.update({f"audio_llm_project.{k}": v for k, v in audio_llm_project.state_dict().items()})
    frozen = ("visual_encoder.clip.", "audio_encoder.audio_encoder.")
    trainable_only = {k: v for k, v in full.items()
                      if not k.startswith(frozen) and (not k.startswith("llm_model.") or ".lora_" in k)}
    torch.save(full, folder / "full.ckpt")
    torch.save(trainable_only, folder / "trainable.ckpt")
    return ReleaseFixture(backbones, folder / "full.ckpt", folder / "trainable.ckpt", clip, hubert, llm, vecb_layers,
                          aecb_layers, position_embedding, visual_llm_project, audio_llm_project)
