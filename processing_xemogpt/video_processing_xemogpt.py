"""XEmoGPT video processor (paper §VI-A: 16 uniformly sampled frames at 224×224 with CLIP normalisation).

A transformers-5 ``BaseVideoProcessor``: the library does resizing, centre cropping, rescaling and normalisation (one
batched torchvision pass per clip); this class only decodes with the project's PyAV sampler
(:func:`media.load_video_frames`: it seeks instead of decoding the whole clip), because transformers' own
``fetch_videos`` needs torchcodec. Saved as ``video_preprocessing_config.json`` and registered for
``AutoVideoProcessor`` (remote code: relative imports only).

Inputs: a path, or a uint8 array/tensor ``[T, H, W, 3]`` / ``[T, 3, H, W]`` (one image ``[H, W, 3]`` counts as a
1-frame video), or a list of them. A clip with ``T != num_frames`` is resampled to ``num_frames`` frames uniformly
(:func:`media.sample_frame_indices`; a 1-frame clip is repeated). Output: ``pixel_values_videos``
``[num_videos, num_frames, 3, 224, 224]``.

``frame_sampling`` picks the frames (files and arrays alike): ``"segment_middle"`` (default; the middles of equal time
segments) or ``"uniform_all_frames"`` (the XEmoGPT authors' rule: frames ``linspace(0, n - 1, num_frames)`` of the
clip's ``n`` frames, truncated), see :mod:`.media`. The pixels equal those of transformers' ``CLIPImageProcessor``
(the fast, torchvision one; ``CLIPImageProcessorFast`` in the authors' code) given the same frames as PIL images with
the same settings: measured max |Δ| = 0.0 (tests/processing_xemogpt/test_processing_official.py).
"""

from __future__ import annotations

import os

import numpy as np
from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PILImageResampling
from transformers.video_processing_utils import BaseVideoProcessor

from .media import FRAME_SAMPLING_RULES, MediaError, check_frame_sampling, load_video_frames, sample_frame_indices


def is_media_path(x) -> bool:
    return isinstance(x, (str, os.PathLike, bytes))


class XEmoGPTVideoProcessor(BaseVideoProcessor):
    r"""CLIP-style preprocessing of ``num_frames`` frames per clip, decoded with PyAV.

    Args (besides those of ``BaseVideoProcessor``):
        num_frames (`int`, defaults to 16): frames per clip, one LLM token each.
        frame_sampling (`str`, defaults to ``"segment_middle"``): which frames, one of ``FRAME_SAMPLING_RULES``
            (``"uniform_all_frames"``: the XEmoGPT authors' rule).
    """

    resample = PILImageResampling.BICUBIC
    image_mean = OPENAI_CLIP_MEAN
    image_std = OPENAI_CLIP_STD
    size = {"shortest_edge": 224}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = False  # sampling happens while decoding (paths) or in load_video (arrays)
    num_frames = 16
    model_input_names = ["pixel_values_videos"]

    def __init__(self, frame_sampling: str = "segment_middle", **kwargs):
        super().__init__(**kwargs)
        self.frame_sampling = check_frame_sampling(frame_sampling)

    @classmethod
    def from_image_processor(cls, image_processor, num_frames: int = 16,
                             frame_sampling: str = "segment_middle") -> "XEmoGPTVideoProcessor":
        """The video processor that preprocesses every frame as ``image_processor`` (a CLIP image processor, e.g. the
        vision backbone's) does: same size, crop, resampling and normalisation."""
        keys = ("size", "crop_size", "resample", "image_mean", "image_std", "do_resize", "do_center_crop",
                "do_rescale", "rescale_factor", "do_normalize", "do_convert_rgb")
        settings = {k: getattr(image_processor, k) for k in keys if getattr(image_processor, k, None) is not None}
        return cls(num_frames=num_frames, frame_sampling=frame_sampling, **settings)

    def load_video(self, video, name: str = "video") -> np.ndarray:
        """A video input -> uint8 ``[num_frames, H, W, 3]`` frames (decoded with PyAV when it is a path)."""
        if is_media_path(video):
            return load_video_frames(video, num_frames=self.num_frames, frame_sampling=self.frame_sampling)
        if hasattr(video, "detach") and hasattr(video, "cpu"):  # torch tensor
            video = video.detach().cpu().numpy()
        if not isinstance(video, np.ndarray):
            raise MediaError(f"{name}: expected a file path or a uint8 array [T, H, W, 3], got {type(video).__name__}")
        if video.ndim == 3 and video.shape[-1] == 3:  # one image
            video = video[None]
        if video.ndim == 4 and video.shape[-1] != 3 and video.shape[1] == 3:
            video = video.transpose(0, 2, 3, 1)
        if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] == 0:
            raise MediaError(f"{name}: expected a uint8 array [T, H, W, 3] with T >= 1, got shape {video.shape}")
        if video.dtype != np.uint8:
            raise MediaError(f"{name}: expected uint8 frames (0-255), got dtype {video.dtype}")
        if video.shape[0] != self.num_frames:
            video = video[sample_frame_indices(video.shape[0], self.num_frames, self.frame_sampling)]
        return np.ascontiguousarray(video)

    def _decode_and_sample_videos(self, videos, video_metadata=None, do_sample_frames=None, sample_indices_fn=None):
        """Decode paths with PyAV and bring every clip to ``num_frames`` frames (replaces transformers' torchcodec
        path); the library's resize / crop / normalise then run on the frames."""
        if is_media_path(videos) or (isinstance(videos, np.ndarray) and videos.ndim in (3, 4)) or (
            hasattr(videos, "detach") and videos.dim() in (3, 4)
        ):
            videos = [videos]
        clips = [self.load_video(v, name=f"video #{i}") for i, v in enumerate(videos)]
        return clips, [None] * len(clips)

    def __call__(self, videos, **kwargs):
        out = super().__call__(videos, **kwargs)
        pixels = out["pixel_values_videos"]
        if isinstance(pixels, list):  # same size after the centre crop: one [N, T, 3, H, W] array
            import torch

            out["pixel_values_videos"] = torch.stack(pixels) if hasattr(pixels[0], "dim") else np.stack(pixels)
        return out


XEmoGPTVideoProcessor.register_for_auto_class("AutoVideoProcessor")

__all__ = ["XEmoGPTVideoProcessor", "FRAME_SAMPLING_RULES"]
