"""Write real media files (H.264 mp4 with an optional AAC track, wav/flac) with PyAV and soundfile.

One writer for everything in the project that makes media: the synthetic EmoCue clips, test fixtures and benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_mp4(
    path: str | Path,
    frames: np.ndarray,
    fps: int = 16,
    audio: np.ndarray | None = None,
    sample_rate: int = 16000,
    gop_size: int | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    deterministic: bool = False,
    faststart: bool = False,
) -> Path:
    """Encode ``frames`` (uint8 ``[T, H, W, 3]`` RGB, even H and W) as H.264 and ``audio`` (float mono in [-1, 1]) as AAC.

    ``gop_size`` sets the keyframe interval (``None`` keeps libx264's default, 250 frames).
    ``faststart=True`` puts the index (``moov``) before the media data, as streaming sites do.
    ``deterministic=True`` makes the bytes identical from run to run (one encoder thread and no macroblock-tree
    rate control: with mbtree on, libx264 output was measured to vary between identical runs, even single-threaded).
    """
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"{path}: frames must be uint8 [T, H, W, 3], got {frames.dtype} {frames.shape}")
    height, width = frames.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"{path}: H.264 with yuv420p needs even width and height, got {width}x{height}")
    with av.open(str(path), mode="w", options={"movflags": "faststart"} if faststart else None) as container:
        vstream = container.add_stream("libx264", rate=fps)
        vstream.width, vstream.height, vstream.pix_fmt = width, height, "yuv420p"
        options = {"crf": str(crf), "preset": preset}
        x264_params = []
        if gop_size is not None:
            vstream.codec_context.gop_size = gop_size
            options["keyint"] = str(gop_size)
            x264_params.append(f"keyint={gop_size}:min-keyint={gop_size}:scenecut=0")
        if deterministic:
            options["threads"] = "1"
            x264_params.append("mbtree=0")
        if x264_params:
            options["x264-params"] = ":".join(x264_params)
        vstream.options = options
        astream = None
        if audio is not None:
            astream = container.add_stream("aac", rate=sample_rate, layout="mono")
        for frame in frames:
            for packet in vstream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            samples = np.clip(np.asarray(audio, dtype=np.float32).reshape(-1), -1.0, 1.0)
            chunk = astream.codec_context.frame_size or 1024
            for start in range(0, len(samples), chunk):
                block = samples[start : start + chunk]
                if len(block) < chunk:
                    block = np.pad(block, (0, chunk - len(block)))
                aframe = av.AudioFrame.from_ndarray(block[None, :], format="fltp", layout="mono")
                aframe.sample_rate = sample_rate
                aframe.pts = start
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode():
                container.mux(packet)
    return path


def write_audio(path: str | Path, audio: np.ndarray, sample_rate: int = 16000) -> Path:
    """Write mono float audio as wav or flac (chosen by the suffix) with soundfile."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(audio, dtype=np.float32), sample_rate)
    return path
