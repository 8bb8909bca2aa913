"""XEmoGPT (paper §III, Fig. 2): frozen CLIP-ViT and HuBERT, the two emotional cue bridges, linear projections and
a Qwen3 LLM that reads visual/audio emotion tokens, the subtitle and the prompt: ``R = LLM(Z_v, Z_a, T, P)``."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import torch
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, GenerationMixin
from transformers.cache_utils import Cache

from .configuration_xemogpt import XEmoGPTConfig
from .modality_gradients import block_gradient, modality_codes, under_deepspeed
from .modeling_aecb import AECBForPretraining, AudioEmotionalCueBridge
from .modeling_bridge import BridgePreTrainedModel
from .modeling_media_features import XEmoGPTMediaFeaturesMixin
from .modeling_outputs import XEmoGPTCausalLMOutputWithPast, loss_positions
from .modeling_vecb import VECBForPretraining, VideoEmotionalCueBridge
from .vocabulary import AUDIO, MODALITIES, VISUAL  # per-sample modality of stage 3 (§III-D3)

PLACEHOLDER_TOKENS = ("<video>", "<audio>")


class XEmoGPTPreTrainedModel(BridgePreTrainedModel):
    base_model_prefix = ""
    input_modalities = ("video", "audio", "text")
    _no_split_modules = ["CLIPEncoderLayer", "HubertEncoderLayer", "Qwen3DecoderLayer"]
    _skip_keys_device_placement = "past_key_values"
    _supports_flash_attn = True
    _supports_sdpa = True


class XEmoGPTForConditionalGeneration(XEmoGPTPreTrainedModel, XEmoGPTMediaFeaturesMixin, GenerationMixin):
    r"""XEmoGPT for explanation generation.

    Video path: frozen CLIP vision tower -> per-frame feature of the last hidden state (CLS in the paper) ``X_v`` ->
    VECB (eq.1) ``H_v`` -> linear projection ``Z_v``: one LLM token per frame. Audio path: frozen HuBERT frames
    ``X_a`` -> AECB (eq.2) ``H_a`` -> linear projection ``Z_a``: one LLM token per valid HuBERT frame (50/s).
    The tokens replace the ``<video>`` / ``<audio>`` placeholders of the prompt by masked scatter.

    Stage-3 gradient control (§III-D3): pass ``modality`` per sample ("visual", "audio", "multimodal"). For a
    "visual" sample no gradient reaches AECB or the audio projection even when its audio is fed forward, and for an
    "audio" sample none reaches VECB or the video projection; this holds per sample inside a mixed batch.
    """

    def __init__(
        self,
        config: XEmoGPTConfig,
        vision_tower: nn.Module | None = None,
        audio_tower: nn.Module | None = None,
        language_model: nn.Module | None = None,
    ):
        super().__init__(config)
        self.vision_tower = vision_tower if vision_tower is not None else AutoModel.from_config(config.vision_config)
        self.audio_tower = audio_tower if audio_tower is not None else AutoModel.from_config(config.audio_config)
        # Table V: a bridge switched off leaves the frozen per-frame features to the projection alone
        self.vecb = VideoEmotionalCueBridge(config) if config.use_vecb else None
        self.aecb = AudioEmotionalCueBridge(config) if config.use_aecb else None
        text_hidden = config.text_config.hidden_size
        self.video_projection = nn.Linear(config.vision_config.hidden_size, text_hidden)
        self.audio_projection = nn.Linear(config.audio_config.hidden_size, text_hidden)
        self.language_model = (
            language_model if language_model is not None else AutoModelForCausalLM.from_config(config.text_config)
        )
        if config.text_lora:
            self._inject_text_lora(config.text_lora)
        self.freeze_encoders()
        self.post_init()
        if self.generation_config is not None:
            # A placeholder is never a valid output token.
            self.generation_config.suppress_tokens = [config.video_token_id, config.audio_token_id]
            if config.pad_token_id is not None and self.generation_config.pad_token_id is None:
                self.generation_config.pad_token_id = config.pad_token_id

    # -- plumbing ---------------------------------------------------------------------------------------------------
    def get_input_embeddings(self):
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, new_embeddings):
        self.language_model.set_output_embeddings(new_embeddings)

    def get_decoder(self):
        return self.language_model.get_decoder()

    def freeze_encoders(self):
        """CLIP and HuBERT stay frozen in every stage (§III-D); they also stay in eval mode (no dropout)."""
        for tower in (self.vision_tower, self.audio_tower):
            tower.requires_grad_(False)
            tower.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        self.vision_tower.eval()
        self.audio_tower.eval()
        return self

    # -- emotion tokens into the prompt (media features: XEmoGPTMediaFeaturesMixin) ----------------------------------
    def get_placeholder_mask(self, input_ids: torch.Tensor, token_id: int, features: torch.Tensor, name: str):
        """Positions of ``token_id`` in ``input_ids``; fails clearly when their count differs from the features."""
        mask = input_ids == token_id
        n_tokens, n_features = int(mask.sum()), features.shape[0]
        if n_tokens != n_features:
            raise ValueError(
                f"the prompt has {n_tokens} {name} placeholder tokens but the {name} input gives {n_features} "
                f"{name} tokens; build inputs with XEmoGPTProcessor, which expands each <{name}> to the right count"
            )
        return mask

    def _idle_branch(self, kind: str, reference: torch.Tensor) -> torch.Tensor:
        """``0 x`` the output of the ``kind`` ("video" / "audio") bridge and projection on one blank clip of frame
        features, for a batch without that modality under DeepSpeed (``modality_gradients.under_deepspeed``): a rank
        whose batch has no video still runs the video branch. The result is unchanged (zero is added; the branch gets zero
        gradients). The frozen towers are not run: under ZeRO-3 the stages give frozen features from the feature cache
        (pixels on one rank and none on another would differ)."""
        if kind == "video":
            blank = reference.new_zeros(1, self.config.num_frames, self.config.vision_config.hidden_size)
            out = self.get_video_features(frame_features=blank)
        else:
            blank = reference.new_zeros(1, 1, self.config.audio_config.hidden_size)
            out, _ = self.get_audio_features(audio_frame_features=blank)
        return (out.sum() * 0.0).to(reference.dtype)

    def _scatter(self, inputs_embeds, input_ids, token_id, features, name, blocked_rows):
        mask = self.get_placeholder_mask(input_ids, token_id, features, name)
        token_rows = mask.nonzero()[:, 0]  # owner sample of every placeholder, in row-major order
        features = block_gradient(features, token_rows, blocked_rows).to(inputs_embeds.dtype)
        return inputs_embeds.masked_scatter(mask.unsqueeze(-1).expand_as(inputs_embeds), features)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        input_values: torch.FloatTensor | None = None,
        audio_attention_mask: torch.Tensor | None = None,
        modality: Sequence[str] | torch.Tensor | None = None,
        video_frame_features: torch.FloatTensor | None = None,
        audio_frame_features: torch.FloatTensor | None = None,
        audio_frame_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> XEmoGPTCausalLMOutputWithPast:
        r"""
        pixel_values_videos (`[num_videos, T, 3, H, W]`): frames of the videos of the batch, in placeholder order.
        input_values (`[num_audios, S]`), audio_attention_mask (`[num_audios, S]`): 16 kHz waveforms, in placeholder order.
        modality (list of "visual" / "audio" / "multimodal", or LongTensor of indices into `MODALITIES`): per-sample
            gradient blocking of stage 3. `None` trains every branch for every sample.
        labels (`[B, L]`): -100 except on the answer tokens.
        logits_to_keep (`int` or tensor): which positions the LM head projects, transformers' semantics
            (``slice_logits_to_keep``): `0` all, an int the last ones (``generate`` passes 1), index tensors, or a
            `[B, L]` bool mask. With a bool mask ``outputs.logits`` is `[num_kept, vocab]`: the logits of the kept
            positions, flattened in row-major order. A bool mask *with* ``labels`` (``loss_positions(labels)``)
            computes the loss from the kept positions only — the same mean next-token cross-entropy (transformers'
            ``ForCausalLMLoss``, ``num_items_in_batch`` included) without the `[B, L, vocab]` logits, as long as the
            mask covers every position whose next label is not -100 (stage 3: 128 answer positions of ~800).
        video_frame_features (`[num_videos, T, Dv]`), audio_frame_features (`[num_audios, La, Da]`) and
            audio_frame_mask (`[num_audios, La]`): the frozen encoders' outputs (``get_frame_features`` /
            ``get_audio_frame_features``) given instead of pixels / waveforms, e.g. from a feature cache: the encoders
            are frozen, so the result is the same and training skips them.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids or inputs_embeds")
        if pixel_values_videos is not None and video_frame_features is not None:
            raise ValueError("pass either pixel_values_videos or video_frame_features, not both")
        if input_values is not None and audio_frame_features is not None:
            raise ValueError("pass either input_values or audio_frame_features, not both")
        has_video = pixel_values_videos is not None or video_frame_features is not None
        has_audio = input_values is not None or audio_frame_features is not None
        if (has_video or has_audio) and input_ids is None:
            raise ValueError("video/audio inputs need input_ids to locate the <video>/<audio> placeholders")

        video_hidden = audio_hidden = None
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
            is_prefill = past_key_values is None or past_key_values.get_seq_length() == 0
            codes = modality_codes(modality, input_ids.shape[0], input_ids.device)
            if has_video:
                video_hidden = self.get_video_features(pixel_values_videos, frame_features=video_frame_features)
                blocked = None if codes is None else codes == MODALITIES.index(AUDIO)
                inputs_embeds = self._scatter(
                    inputs_embeds, input_ids, self.config.video_token_id, video_hidden.flatten(0, 1), "video", blocked
                )
            elif is_prefill and (input_ids == self.config.video_token_id).any():
                raise ValueError("the prompt has <video> placeholder tokens but no pixel_values_videos were given")
            elif is_prefill and under_deepspeed():
                inputs_embeds = inputs_embeds + self._idle_branch("video", inputs_embeds)
            if has_audio:
                audio_hidden, frame_mask = self.get_audio_features(
                    input_values, audio_attention_mask, audio_frame_features, audio_frame_mask
                )
                blocked = None if codes is None else codes == MODALITIES.index(VISUAL)
                inputs_embeds = self._scatter(
                    inputs_embeds, input_ids, self.config.audio_token_id, audio_hidden[frame_mask.bool()], "audio", blocked
                )
            elif is_prefill and (input_ids == self.config.audio_token_id).any():
                raise ValueError("the prompt has <audio> placeholder tokens but no input_values were given")
            elif is_prefill and under_deepspeed():
                inputs_embeds = inputs_embeds + self._idle_branch("audio", inputs_embeds)

        # a bool mask with labels: the loss comes from the kept positions' logits (the LLM would shift the labels of
        # all positions against the flattened logits)
        masked_loss = labels is not None and isinstance(logits_to_keep, torch.Tensor) and logits_to_keep.dtype == torch.bool
        num_items_in_batch = kwargs.pop("num_items_in_batch", None) if masked_loss else None
        if masked_loss and logits_to_keep.shape != labels.shape:
            raise ValueError(f"a bool logits_to_keep must have the labels' shape {tuple(labels.shape)}, got "
                             f"{tuple(logits_to_keep.shape)}")
        outputs = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            labels=None if masked_loss else labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )
        loss = outputs.loss
        if masked_loss:
            shift_labels = nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]
            loss = self.language_model.loss_function(
                logits=outputs.logits, labels=None, shift_labels=shift_labels[logits_to_keep.to(labels.device)],
                vocab_size=self.language_model.config.vocab_size, num_items_in_batch=num_items_in_batch)
        return XEmoGPTCausalLMOutputWithPast(
            loss=loss,
            logits=outputs.logits,
            past_key_values=outputs.past_key_values,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            video_hidden_states=video_hidden,
            audio_hidden_states=audio_hidden,
        )

    def prepare_inputs_for_generation(self, *args, is_first_iteration: bool | None = False, **kwargs):
        model_inputs = super().prepare_inputs_for_generation(*args, is_first_iteration=is_first_iteration, **kwargs)
        if not is_first_iteration and kwargs.get("use_cache", True):
            # media are consumed at prefill only (transformers drops pixels, and waveforms only since 5.2x)
            for key in ("pixel_values_videos", "input_values", "video_frame_features", "audio_frame_features",
                        "audio_frame_mask", "audio_attention_mask"):
                model_inputs.pop(key, None)
        return model_inputs

    # -- stages and adapters ------------------------------------------------------------------------------------------
    def load_bridges(self, vecb: str | Path | VECBForPretraining | None = None, aecb: str | Path | AECBForPretraining | None = None):
        """Initialise VECB / AECB from the outputs of stage 1 / stage 2 (a directory saved by
        ``VECBForPretraining.save_pretrained`` / ``AECBForPretraining.save_pretrained``, or the model itself)."""
        for name, source, pretraining_cls, target in (
            ("VECB", vecb, VECBForPretraining, self.vecb),
            ("AECB", aecb, AECBForPretraining, self.aecb),
        ):
            if source is None:
                continue
            if target is None:
                raise ValueError(f"this model has no {name} (config.use_{name.lower()} is false): nothing to load into")
            if not isinstance(source, pretraining_cls):
                path = Path(source)
                if not (path / "config.json").is_file():
                    raise FileNotFoundError(f"{path}: no {name} checkpoint here (expected config.json + model.safetensors)")
                # only the bridge is used: a head parameter of another shape (the 0-dim InfoNCE temperature of older
                # stage-1/2 outputs) must not stop the load; the bridge's own shapes are checked below
                source = pretraining_cls.from_pretrained(path, ignore_mismatched_sizes=True)
            state = source.bridge.state_dict()
            expected = {k: v.shape for k, v in target.state_dict().items()}
            got = {k: v.shape for k, v in state.items()}
            if expected != got:
                raise ValueError(f"{name} weights do not fit this model's {name}: shapes {got} vs expected {expected}")
            target.load_state_dict(state)
        return self

    def _inject_text_lora(self, settings: dict):
        """PEFT LoRA layers inside the LLM (``config.text_lora``), injected without a ``PeftModel`` wrapper so the
        checkpoint stays an ordinary transformers checkpoint whose state dict holds the A/B factors."""
        from peft import LoraConfig, inject_adapter_in_model

        lora = LoraConfig(
            r=settings["r"], lora_alpha=settings["lora_alpha"], lora_dropout=settings.get("lora_dropout", 0.0),
            target_modules=list(settings["target_modules"]), bias="none",
        )
        inject_adapter_in_model(lora, self.language_model)

    def merge_text_lora(self):
        """Fold unmerged LoRA factors of the LLM (``config.text_lora``) into its weights, ``W + (alpha/r) B A``, and
        drop the LoRA layers: the model becomes a plain one that training stages can put their own adapter on."""
        if not self.config.text_lora:
            return self
        from peft.tuners.lora import LoraLayer

        for name, module in list(self.language_model.named_modules()):
            if isinstance(module, LoraLayer):
                module.merge()
                parent_name, _, child = name.rpartition(".")
                setattr(self.language_model.get_submodule(parent_name), child, module.get_base_layer())
        self.config.text_lora = None
        return self

    def lora_config(self, **overrides):
        """PEFT LoRA config of stage 3 (§III-D3): LoRA on the LLM's attention projections named in
        ``config.lora_target_modules`` (q/k/v), with VECB, AECB and both projections fully trained and saved."""
        from peft import LoraConfig

        targets = "|".join(self.config.lora_target_modules)
        kwargs = dict(
            r=self.config.lora_r,
            lora_alpha=self.config.lora_alpha,
            lora_dropout=self.config.lora_dropout,
            target_modules=rf"language_model\..*\.({targets})",
            modules_to_save=[name for name in ("vecb", "aecb", "video_projection", "audio_projection")
                             if getattr(self, name) is not None],
            task_type="CAUSAL_LM",
        )
        kwargs.update(overrides)
        return LoraConfig(**kwargs)

    @classmethod
    def from_components(
        cls, vision: str | Path, audio: str | Path, text: str | Path, dtype: torch.dtype | str | None = None, **config_overrides
    ) -> "XEmoGPTForConditionalGeneration":
        """Build XEmoGPT from pretrained backbones given as Hub ids or local paths, e.g. the paper's
        ``vision="openai/clip-vit-large-patch14", audio="TencentGameMate/chinese-hubert-large", text="Qwen/Qwen3-4B"``.

        The tokenizer of ``text`` gets the ``<video>``/``<audio>`` tokens if it lacks them (the LLM's embeddings grow
        if needed); bridges and projections are freshly initialised (load stage outputs with ``load_bridges``).
        """
        from transformers import AutoTokenizer, CLIPVisionModel, HubertModel

        for name, source in (("vision", vision), ("audio", audio), ("text", text)):
            if isinstance(source, Path) or str(source).startswith((".", "/", "~")):
                if not Path(source).expanduser().exists():
                    raise FileNotFoundError(f"{source}: {name} backbone path does not exist")
        load_kwargs = {} if dtype is None else {"dtype": dtype}
        vision_tower = CLIPVisionModel.from_pretrained(str(vision), **load_kwargs)
        audio_tower = AutoModel.from_pretrained(str(audio), **load_kwargs)
        if not isinstance(audio_tower, HubertModel):
            raise ValueError(f"{audio}: expected a HuBERT checkpoint, got {type(audio_tower).__name__}")
        language_model = AutoModelForCausalLM.from_pretrained(str(text), **load_kwargs)
        tokenizer = AutoTokenizer.from_pretrained(str(text))
        missing = [t for t in PLACEHOLDER_TOKENS if t not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_special_tokens({"additional_special_tokens": missing}, replace_extra_special_tokens=False)
        if len(tokenizer) > language_model.get_input_embeddings().num_embeddings:
            language_model.resize_token_embeddings(len(tokenizer))
        video_id, audio_id = tokenizer.convert_tokens_to_ids(list(PLACEHOLDER_TOKENS))
        config = XEmoGPTConfig(
            vision_config=vision_tower.config,
            audio_config=audio_tower.config,
            text_config=language_model.config,
            video_token_id=video_id,
            audio_token_id=audio_id,
            pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id,
            backbones={"vision": str(vision), "audio": str(audio), "text": str(text)},
            **config_overrides,
        )
        model = cls(config, vision_tower=vision_tower, audio_tower=audio_tower, language_model=language_model)
        if language_model.generation_config is not None:  # keep the LLM's own decoding defaults (eos, sampling)
            generation_config = copy.deepcopy(language_model.generation_config)
            generation_config.suppress_tokens = model.generation_config.suppress_tokens
            if generation_config.pad_token_id is None:
                generation_config.pad_token_id = config.pad_token_id
            model.generation_config = generation_config
        return model


__all__ = ["XEmoGPTPreTrainedModel", "XEmoGPTForConditionalGeneration", "XEmoGPTCausalLMOutputWithPast", "MODALITIES",
           "loss_positions"]

XEmoGPTForConditionalGeneration.register_for_auto_class("AutoModel")
