"""The media of stage-4 rollouts, kept row by row so they travel through TRL's GRPO batch handling.

XEmoGPT takes its media as batch tensors with one entry per *present* video / audio, in the order of the placeholder
runs (``video_frame_features [num_videos, T, D]``, ``audio_frame_features [num_audios, L, D]`` + ``audio_frame_mask``,
or pixels / waveforms; :mod:`training.collators`). TRL's ``GRPOTrainer`` shuffles the rows of a generation batch and
splits them into per-step slices (``shuffle_sequence_dict``, ``split_tensor_dict``): it permutes and slices every
tensor of its batch dict along the first dimension. :func:`to_rows` therefore turns the model's media into tensors with
one row per prompt-completion row (zeros and a presence flag where a row has no video / audio), stored under keys
prefixed with :data:`PREFIX`; :func:`model_inputs` turns any slice of rows back into the model's own inputs.
"""

from __future__ import annotations

import torch

PREFIX = "rollout_media."
VIDEO_KEYS = ("video_frame_features", "pixel_values_videos")
AUDIO_KEYS = {"audio_frame_features": "audio_frame_mask", "input_values": "audio_attention_mask"}  # values -> mask


def to_rows(media: dict, has_video, has_audio, modality_codes) -> dict[str, torch.Tensor]:
    """Per-row tensors (first dimension = number of rows) of the model-form ``media`` of these rows.

    ``has_video[i]`` / ``has_audio[i]`` say whether row ``i`` holds a video / an audio clip (its entries in ``media``
    follow the row order); ``modality_codes[i]`` is its index in the model's ``MODALITIES`` (gradient blocking).
    """
    has_video = torch.as_tensor(has_video, dtype=torch.bool)
    has_audio = torch.as_tensor(has_audio, dtype=torch.bool)
    n = len(has_video)
    rows = {"modality": torch.as_tensor(modality_codes, dtype=torch.long), "has_video": has_video}
    for key in VIDEO_KEYS:
        if key in media:
            values = media[key]
            if len(values) != int(has_video.sum()):
                raise ValueError(f"{key}: {len(values)} videos for {int(has_video.sum())} rows with a video")
            rows[key] = values.new_zeros((n, *values.shape[1:]))
            rows[key][has_video] = values
    for key, mask_key in AUDIO_KEYS.items():
        if key in media:
            values, mask = media[key], media[mask_key]
            if len(values) != int(has_audio.sum()):
                raise ValueError(f"{key}: {len(values)} audio clips for {int(has_audio.sum())} rows with audio")
            rows[key] = values.new_zeros((n, *values.shape[1:]))
            rows[key][has_audio] = values
            rows[mask_key] = mask.new_zeros((n, *mask.shape[1:]))
            rows[mask_key][has_audio] = mask
    return {PREFIX + k: v for k, v in rows.items()}


def select(batch: dict) -> dict[str, torch.Tensor]:
    """The per-row media entries of a batch dict."""
    return {k: v for k, v in batch.items() if k.startswith(PREFIX)}


def model_inputs(rows: dict, index: slice | None = None) -> dict:
    """The model's media keyword arguments (and ``modality``) for the rows ``index`` of :func:`to_rows`'s output:
    present entries only, in row order, audio trimmed to the longest clip of the slice."""
    part = {k[len(PREFIX):]: (v if index is None else v[index]) for k, v in rows.items()}
    out = {"modality": part["modality"]}
    has_video = part["has_video"]
    for key in VIDEO_KEYS:
        if key in part and bool(has_video.any()):
            out[key] = part[key][has_video]
    for key, mask_key in AUDIO_KEYS.items():
        if key in part:
            mask = part[mask_key]
            present = mask.bool().any(dim=1)
            if bool(present.any()):
                length = int(mask[present].sum(dim=1).max())
                out[key] = part[key][present][:, :length]
                out[mask_key] = mask[present][:, :length]
    return out
