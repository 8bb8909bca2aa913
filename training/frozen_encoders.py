"""The frozen CLIP vision tower and HuBERT (paper §III-D: frozen in every stage), as feature extractors for the
on-disk feature cache that stages 1, 2 and 3 and the probe share."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from .model_loading import build_base_model, build_processor, xemogpt_config


def _short_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def tower_fingerprint(checkpoint: Path, tower: str, samples: int = 4096) -> str:
    """A hash of the ``tower.*`` tensors of a safetensors checkpoint: names, shapes and (for large tensors) a strided
    sample of their values, read lazily without loading the model."""
    from safetensors import safe_open

    files = sorted(checkpoint.glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"{checkpoint}: no *.safetensors weights in the base checkpoint")
    h = hashlib.sha256()
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for name in sorted(k for k in f.keys() if k.startswith(tower + ".")):
                t = f.get_tensor(name).reshape(-1)
                h.update(f"{name}{tuple(t.shape)}".encode())
                h.update(t[:: max(1, t.numel() // samples)].float().numpy().tobytes())
    return h.hexdigest()[:16]


class FrozenMediaEncoders:
    """The frozen towers of the XEmoGPT base model with the processor's media loading and preprocessing.

    The model is built lazily (only when a feature is not in the cache). ``video_encoder_name`` /
    ``audio_encoder_name`` identify the features for the cache without building the model: backbone source, tower
    config, feature selection, frame count and preprocessing settings. Stage 3 feeds the model exactly what
    ``video_features`` / ``audio_features`` return, through its ``video_frame_features`` / ``audio_frame_features``
    inputs.
    """

    def __init__(self, model_cfg, device: str | torch.device = "cpu", model=None, processor=None):
        self.model_cfg = model_cfg
        self.device = torch.device(device)
        self.config = xemogpt_config(model_cfg)
        self.processor = processor if processor is not None else build_processor(model_cfg)
        self._model = model  # a model built from model_cfg already (stage 3), or None: built when first needed

    # -- identity ---------------------------------------------------------------------------------------------------
    def _source(self, tower: str) -> str:
        """What identifies a tower's weights: the content of a base checkpoint's ``tower`` tensors (so checkpoints
        that share their frozen towers share cached features), the paper's backbone ids, or the tiny preset's seed."""
        mc = self.model_cfg
        if mc.base_model:
            return f"base:{tower_fingerprint(Path(mc.base_model), tower)}"
        if mc.preset == "paper":
            backbones = self.config.backbones or {}
            return f"paper:{backbones.get('vision')}|{backbones.get('audio')}"
        return f"{mc.preset}:seed{mc.model_seed or 0}"

    @staticmethod
    def _settings(sub) -> str:
        d = sub.to_dict() if hasattr(sub, "to_dict") else {}
        return _short_hash({k: v for k, v in d.items() if not k.startswith("_") and k != "processor_class"})

    @property
    def video_encoder_name(self) -> str:
        c = self.config
        return (f"video|{self._source('vision_tower')}|{_short_hash(c.vision_config.to_dict())}|{c.vision_feature_select}"
                f"|T{c.num_frames}|{self.model_cfg.torch_dtype}|{self._settings(self.processor.video_processor)}")

    @property
    def audio_encoder_name(self) -> str:
        c = self.config
        return (f"audio|{self._source('audio_tower')}|{_short_hash(c.audio_config.to_dict())}|sr{c.audio_sampling_rate}"
                f"|max{c.max_audio_seconds}|{self.model_cfg.torch_dtype}"
                f"|{self._settings(self.processor.feature_extractor)}")

    @property
    def model(self):
        if self._model is None:
            self._model = build_base_model(self.model_cfg).to(self.device).eval()
        return self._model

    # -- media (what the processor feeds the model) --------------------------------------------------------------------
    def load_video(self, path: str) -> torch.Tensor:
        """``num_frames`` preprocessed frames of a video file: ``[T, 3, H, W]`` float."""
        return self.processor.video_processor(videos=[path], return_tensors="pt")["pixel_values_videos"][0]

    def load_audio(self, path: str) -> torch.Tensor:
        """The 16 kHz mono waveform of an audio file or a video's audio track, normalised for HuBERT: ``[S]``."""
        wave = self.processor.load_audio(path)
        out = self.processor.feature_extractor(wave, sampling_rate=self.processor.sampling_rate, return_tensors="pt")
        return out["input_values"][0]

    # -- features ------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def video_features(self, pixel_batch: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """``X_v`` of each clip: ``{"features": [T, Dv]}``."""
        pixels = torch.stack(pixel_batch).to(self.device)
        feats = self.model.get_frame_features(pixels).float().cpu()
        return [{"features": f} for f in feats]

    @torch.no_grad()
    def audio_features(self, waves: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """``X_a`` of each clip: ``{"features": [La, Da]}`` (its own HuBERT frames, no padding)."""
        lengths = torch.tensor([w.numel() for w in waves])
        values = torch.zeros(len(waves), int(lengths.max()))
        mask = torch.zeros(len(waves), int(lengths.max()), dtype=torch.long)
        for i, w in enumerate(waves):
            values[i, : w.numel()] = w
            mask[i, : w.numel()] = 1
        feats, frame_mask = self.model.get_audio_frame_features(values.to(self.device), mask.to(self.device))
        feats, frame_mask = feats.float().cpu(), frame_mask.cpu()
        return [{"features": feats[i, : int(frame_mask[i].sum())].clone()} for i in range(len(waves))]
