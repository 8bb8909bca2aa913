"""XEmoGPT's media features (paper §III, Fig. 2): the frozen CLIP / HuBERT features ``X_v`` / ``X_a`` and the emotion
tokens ``Z_v = Proj_v(VECB(X_v))`` / ``Z_a = Proj_a(AECB(X_a))``, as a mixin of the model (it reads ``vision_tower``,
``audio_tower``, ``vecb``, ``aecb``, ``video_projection``, ``audio_projection`` and ``config``)."""

from __future__ import annotations

import torch

# Shortest waveform HuBERT's convolutional front end turns into one frame (25 ms at 16 kHz).
MIN_AUDIO_SAMPLES = 400


class XEmoGPTMediaFeaturesMixin:
    """Frozen tower features and the bridge + projection emotion tokens of :class:`XEmoGPTForConditionalGeneration`."""

    # -- frozen features ------------------------------------------------------------------------------------------------
    def get_frame_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """``X_v``: per-frame features ``[N, T, Dv]`` of the frozen CLIP tower for ``[N, T, 3, H, W]`` frames."""
        if pixel_values_videos.dim() != 5:
            raise ValueError(
                f"pixel_values_videos must be [videos, frames, 3, H, W], got shape {tuple(pixel_values_videos.shape)}"
            )
        num_videos, num_frames = pixel_values_videos.shape[:2]
        pixels = pixel_values_videos.flatten(0, 1).to(dtype=self.vision_tower.dtype)
        with torch.set_grad_enabled(torch.is_grad_enabled() and any(p.requires_grad for p in self.vision_tower.parameters())):
            hidden = self.vision_tower(pixel_values=pixels).last_hidden_state
        select = self.config.vision_feature_select
        if select == "cls":
            features = hidden[:, 0]
        elif select == "patch_mean":
            features = hidden[:, 1:].mean(dim=1)
        else:  # "cls_patch_mean"
            features = hidden[:, 0] + hidden[:, 1:].mean(dim=1)
        return features.reshape(num_videos, num_frames, -1)

    def audio_output_lengths(self, num_samples: torch.Tensor) -> torch.Tensor:
        """Number of HuBERT frames for waveforms of ``num_samples`` samples (one audio token per frame)."""
        return self.audio_tower._get_feat_extract_output_lengths(num_samples).long()

    def get_audio_frame_features(
        self, input_values: torch.Tensor, audio_attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``X_a``: frozen HuBERT frames ``[N, La, Da]`` and their mask ``[N, La]`` for waveforms ``[N, S]``.

        Each waveform is encoded at its own length, so a clip's features never depend on the padding of the batch
        (HuBERT's group-norm front end would otherwise see the padding).
        """
        if input_values.dim() != 2:
            raise ValueError(f"input_values must be [audios, samples], got shape {tuple(input_values.shape)}")
        if audio_attention_mask is None:
            lengths = torch.full((input_values.shape[0],), input_values.shape[1], device=input_values.device)
        else:
            lengths = audio_attention_mask.sum(dim=-1)
        if (lengths < MIN_AUDIO_SAMPLES).any():
            raise ValueError(
                f"audio clips must have at least {MIN_AUDIO_SAMPLES} samples (25 ms at 16 kHz); got lengths "
                f"{lengths.tolist()}"
            )
        frame_lengths = self.audio_output_lengths(lengths)
        max_frames = int(frame_lengths.max())
        hidden_size = self.config.audio_config.hidden_size
        features = input_values.new_zeros((input_values.shape[0], max_frames, hidden_size), dtype=self.audio_tower.dtype)
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.audio_tower.parameters())
        with torch.set_grad_enabled(grad):
            for i, (n_samples, n_frames) in enumerate(zip(lengths.tolist(), frame_lengths.tolist())):
                wave = input_values[i : i + 1, : int(n_samples)].to(self.audio_tower.dtype)
                features[i, :n_frames] = self.audio_tower(wave).last_hidden_state[0, :n_frames]
        frame_mask = torch.arange(max_frames, device=input_values.device)[None, :] < frame_lengths[:, None]
        return features, frame_mask.long()

    # -- emotion tokens -------------------------------------------------------------------------------------------------
    def get_video_features(
        self, pixel_values_videos: torch.Tensor | None = None, frame_features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``Z_v = Proj_v(VECB(X_v))``: ``[N, T, d_llm]`` (from pixels, or from precomputed ``frame_features``)."""
        if frame_features is None:
            frame_features = self.get_frame_features(pixel_values_videos)
        hidden = frame_features.to(self.video_projection.weight.dtype)
        if self.vecb is not None:
            hidden = self.vecb(hidden)
        return self.video_projection(hidden)

    def get_audio_features(
        self,
        input_values: torch.Tensor | None = None,
        audio_attention_mask: torch.Tensor | None = None,
        audio_frame_features: torch.Tensor | None = None,
        audio_frame_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``Z_a = Proj_a(AECB(X_a))``: ``[N, La, d_llm]`` and the frame mask ``[N, La]``."""
        if audio_frame_features is None:
            audio_frame_features, audio_frame_mask = self.get_audio_frame_features(input_values, audio_attention_mask)
        elif audio_frame_mask is None:
            audio_frame_mask = audio_frame_features.new_ones(audio_frame_features.shape[:2], dtype=torch.long)
        hidden = audio_frame_features.to(self.audio_projection.weight.dtype)
        if self.aecb is not None:
            hidden = self.aecb(hidden, audio_frame_mask)
        return self.audio_projection(hidden), audio_frame_mask
