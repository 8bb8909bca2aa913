"""processing_xemogpt.media on real generated files: which frames are picked, audio rates/lengths, every bad input."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from processing_xemogpt import media
from processing_xemogpt.audio import load_audio
from processing_xemogpt.media import MediaError, load_video_frames, sample_frame_indices

from conftest import NUM_FRAMES_IN_CLIP, SINE_HZ, SR, chirp, frame_index_of, make_indexed_frames


def expected_indices(total: int, n: int) -> list[int]:
    return [((2 * i + 1) * total) // (2 * n) for i in range(n)]


def peak_hz(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[int(np.argmax(spec))])


# ------------------------------------------------------------------------------------------------ video frames


def test_sample_frame_indices_rule():
    assert sample_frame_indices(32, 16).tolist() == list(range(1, 32, 2))
    assert sample_frame_indices(1, 16).tolist() == [0] * 16
    assert sample_frame_indices(100, 4).tolist() == [12, 37, 62, 87]


@pytest.mark.parametrize("fixture", ["mp4_with_audio", "mp4_no_audio", "mp4_short_gop"])
def test_sixteen_uniform_frames(request, fixture):
    frames = load_video_frames(request.getfixturevalue(fixture), num_frames=16)
    assert frames.dtype == np.uint8 and frames.shape == (16, 96, 96, 3)
    assert [frame_index_of(f) for f in frames] == list(range(1, 32, 2))


def test_frames_equal_pyavs_own_conversion(mp4_short_gop, long_mp4):
    """The shared per-thread reformatter gives exactly PyAV's ``frame.to_ndarray(format="rgb24")``."""
    import av

    for clip, n in ((mp4_short_gop, NUM_FRAMES_IN_CLIP), (long_mp4, 240)):
        with av.open(str(clip)) as container:
            every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        frames = load_video_frames(clip, num_frames=16)
        assert all(np.array_equal(f, every[i]) for f, i in zip(frames, expected_indices(n, 16)))


@pytest.mark.parametrize("n", [1, 3, 5, 40])
def test_other_frame_counts(mp4_short_gop, n):
    frames = load_video_frames(mp4_short_gop, num_frames=n)
    assert frames.shape[0] == n
    assert [frame_index_of(f) for f in frames] == expected_indices(NUM_FRAMES_IN_CLIP, n)


def test_one_frame_video_repeats_its_frame(one_frame_mp4):
    frames = load_video_frames(one_frame_mp4, num_frames=16)
    assert frames.shape == (16, 96, 96, 3)
    assert all(np.array_equal(f, frames[0]) for f in frames)
    assert frame_index_of(frames[0]) == 0


def test_only_chosen_frames_are_converted_and_seeking_skips_work(mp4_short_gop, mp4_no_audio, monkeypatch):
    conversions = []
    real_to_rgb = media._to_rgb

    def counting_to_rgb(frame):
        conversions.append(frame.pts)
        return real_to_rgb(frame)

    monkeypatch.setattr(media, "_to_rgb", counting_to_rgb)
    # 2 targets (frames 8 and 24) in a clip with a keyframe every 4 frames: two seeks, about one GOP each
    stats = {}
    frames = load_video_frames(mp4_short_gop, num_frames=2, stats=stats)
    assert [frame_index_of(f) for f in frames] == [8, 24]
    assert len(conversions) == 2 == stats["converted"]
    assert stats["method"] == "seek" and stats["packets"] == NUM_FRAMES_IN_CLIP and stats["keyframes"] == 8
    assert stats["seeks"] == 2 and stats["decoded"] <= 2 * 4 + 2, stats
    # the default GOP: at most one seek per keyframe, each chosen frame converted once
    conversions.clear()
    stats = {}
    load_video_frames(mp4_no_audio, num_frames=16, stats=stats)
    assert len(conversions) == 16 == stats["converted"] and stats["seeks"] <= stats["keyframes"]
    assert stats["decoded"] <= NUM_FRAMES_IN_CLIP, stats


def test_variable_frame_rate_follows_timestamps(media_dir):
    import av

    path = media_dir / "vfr.mkv"
    times_ms = [0, 100, 150, 900, 1000, 1950]
    frames = make_indexed_frames(len(times_ms), size=64)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=1000)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        for t, img in zip(times_ms, frames):
            vf = av.VideoFrame.from_ndarray(img, format="rgb24")
            vf.pts, vf.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    out = load_video_frames(path, num_frames=8)
    # clip spans [0, 1951) ms; segment middles 122, 366, 610, 854, 1098, 1341, 1585, 1829 ms -> frame on screen
    assert [frame_index_of(f) for f in out] == [1, 2, 2, 2, 4, 4, 4, 4]


def test_stream_without_timestamps_falls_back_to_decoding_all(media_dir):
    import av

    path = media_dir / "raw.h264"
    frames = make_indexed_frames(40, size=64)
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=16)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    stats = {}
    out = load_video_frames(path, num_frames=16, stats=stats)
    assert [frame_index_of(f) for f in out] == expected_indices(40, 16)
    assert stats["method"] == "decode_all" and stats["converted"] == 16


# ------------------------------------------------------------------------------------------------ audio


@pytest.mark.parametrize("fixture", ["wav_file", "flac_file"])
def test_wav_and_flac(request, fixture):
    audio = load_audio(request.getfixturevalue(fixture))
    assert audio.dtype == np.float32 and audio.ndim == 1 and audio.shape[0] == 24000
    assert abs(peak_hz(audio) - SINE_HZ) < 2
    assert abs(np.sqrt(np.mean(audio**2)) - 0.3 / np.sqrt(2)) < 0.01


def test_resampled_from_44k(wav_44k):
    audio = load_audio(wav_44k, sampling_rate=16000)
    assert audio.shape[0] == 16000
    assert abs(peak_hz(audio) - 1000.0) < 2
    assert abs(np.sqrt(np.mean(audio[200:-200] ** 2)) - 0.3 / np.sqrt(2)) < 0.01


def test_mp4_audio_stream(mp4_with_audio):
    audio = load_audio(mp4_with_audio)
    # 2 s of AAC; the writer pads the last 1024-sample AAC frame
    assert audio.dtype == np.float32 and 32000 <= audio.shape[0] <= 32000 + 2048
    assert abs(peak_hz(audio[:32000]) - SINE_HZ) < 2
    assert abs(np.sqrt(np.mean(audio[1000:31000] ** 2)) - 0.3 / np.sqrt(2)) < 0.02


def test_truncation(long_wav, mp4_with_audio):
    assert load_audio(long_wav).shape[0] == 12 * SR
    assert load_audio(long_wav, max_seconds=None).shape[0] == 14 * SR
    assert load_audio(mp4_with_audio, max_seconds=0.5).shape[0] == SR // 2


# ------------------------------------------------------------------------------------------------ time windows


def test_video_window_samples_inside_the_window(long_mp4):
    # 4 fps: the window [10 s, 20 s) holds frames 40..79; middles of 4 equal parts are at 11.25, 13.75, ... s
    stats = {}
    frames = load_video_frames(long_mp4, num_frames=4, start=10, end=20, stats=stats)
    assert [frame_index_of(f) for f in frames] == [45, 55, 65, 75]
    assert stats["method"] == "seek" and stats["converted"] == 4
    # a window past the clip's end is cut at the end (60 s): [55, 60) -> 55.625 s ... -> frames 222, 227, 232, 237
    assert [frame_index_of(f) for f in load_video_frames(long_mp4, 4, start=55, end=65)] == [222, 227, 232, 237]
    # no window = the whole clip, as before
    whole = load_video_frames(long_mp4, 4)
    assert [frame_index_of(f) for f in whole] == [30, 90, 150, 210]
    assert np.array_equal(whole, load_video_frames(long_mp4, 4, start=0, end=60))


def test_video_window_errors(long_mp4):
    with pytest.raises(MediaError) as err:
        load_video_frames(long_mp4, 4, start=61, end=70)
    _check(err.value, "long_60s.mp4", "after the end of the video", "60 s")
    with pytest.raises(ValueError, match="start < end"):
        load_video_frames(long_mp4, 4, start=5, end=5)


@pytest.mark.parametrize("start", [0.7, 10.0, 33.3])
def test_audio_window_is_the_slice_of_the_whole(long_wav_60, long_mp4, start):
    reference = chirp(60.0)
    s0 = int(round(start * SR))
    wav = load_audio(long_wav_60, start=start, end=start + 2)  # soundfile: exactly the samples of the window
    assert np.array_equal(wav, load_audio(long_wav_60, max_seconds=None)[s0 : s0 + 2 * SR])
    assert np.abs(wav - reference[s0 : s0 + 2 * SR]).max() < 1e-4  # 16-bit PCM
    aac = load_audio(long_mp4, start=start, end=start + 2)  # PyAV: seek + pre-roll; AAC is lossy but aligned
    assert aac.shape == (2 * SR,)
    assert np.abs(aac - reference[s0 : s0 + 2 * SR]).max() < 0.01
    whole = load_audio(long_mp4, max_seconds=None)
    assert np.abs(aac - whole[s0 : s0 + 2 * SR]).max() < 0.01


def test_audio_window_limits(long_wav_60):
    assert load_audio(long_wav_60, start=50, end=70).shape == (10 * SR,)  # cut at the end of the file
    assert load_audio(long_wav_60, start=10, end=30).shape == (12 * SR,)  # max_seconds applies to the window
    assert load_audio(long_wav_60, start=10, end=30, max_seconds=None).shape == (20 * SR,)
    with pytest.raises(MediaError) as err:
        load_audio(long_wav_60, start=61, end=62)
    _check(err.value, "long_60s.wav", "zero-length", "after 61 s")


# ------------------------------------------------------------------------------------------------ bad input


def _check(err: MediaError, name: str, *words: str):
    text = str(err)
    assert "\n" not in text
    assert name in text, text
    for w in words:
        assert w in text.lower(), text


def test_missing_file(media_dir):
    missing = media_dir / "nope.mp4"
    for fn in (load_video_frames, load_audio):
        with pytest.raises(MediaError) as err:
            fn(missing)
        _check(err.value, "nope.mp4", "not found")


def test_not_a_media_file(not_media_file):
    for fn in (load_video_frames, load_audio):
        with pytest.raises(MediaError) as err:
            fn(not_media_file)
        _check(err.value, "not_media.mp4", "not a readable media file")


@pytest.mark.parametrize("fixture, load, name, words", [
    ("wav_file", load_video_frames, "tone.wav", "no video stream"),
    ("mp4_no_audio", load_audio, "no_audio.mp4", "no audio stream"),
    ("zero_length_wav", load_audio, "empty.wav", "zero-length"),
], ids=["no_video_stream", "no_audio_stream", "zero_length_audio"])
def test_stream_missing_or_empty(request, fixture, load, name, words):
    with pytest.raises(MediaError) as err:
        load(request.getfixturevalue(fixture))
    _check(err.value, name, words)


def test_directory_and_empty_file(media_dir, tmp_path):
    with pytest.raises(MediaError, match="directory"):
        load_video_frames(media_dir)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(MediaError) as err:
        load_video_frames(empty)
    _check(err.value, "empty.mp4", "empty file")


@pytest.mark.parametrize("bad", [123, None, 4.5, ["a.mp4"]])
def test_wrong_type(bad):
    for fn, what in ((load_video_frames, "video"), (load_audio, "audio")):
        with pytest.raises(MediaError) as err:
            fn(bad)
        _check(err.value, what, "expected a file path")
    assert issubclass(MediaError, ValueError)
