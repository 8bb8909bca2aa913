"""The synthetic EmoCue generator: deterministic, decodable, cues recoverable from the media, texts consistent."""

from __future__ import annotations

import filecmp
import json
from pathlib import Path

import numpy as np
import pytest

from training.data import synthetic as syn
from training.data.synthetic_media import SCENE_COLOURS
from training.data.loaders import load_emocue
from training.data.schema import MODALITY_AUDIO, MODALITY_MULTIMODAL, MODALITY_VISUAL
from training.data.validate import validate_records

HAS_PROJECT_MEDIA = (Path(__file__).resolve().parents[2] / "processing_xemogpt" / "media.py").is_file()


# ------------------------------------------------------------------------------------------- decoding + recovery
def decode_video(path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)])


def decode_audio(path, sr: int = 16000) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        resampler, out = av.AudioResampler(format="flt", layout="mono", rate=sr), []
        for frame in container.decode(audio=0):
            out += [x.to_ndarray().reshape(-1) for x in resampler.resample(frame)]
        out += [x.to_ndarray().reshape(-1) for x in resampler.resample(None)]
    return np.concatenate(out)


def recover_visual(frames: np.ndarray) -> dict[str, str]:
    """Visual factors from pixels: scene = corner colour, head = face-centroid motion, mouth = teeth/magenta area,
    brows = height and slant of the dark strokes above the eyes."""
    f = frames.astype(np.float32)
    T, H, W, _ = f.shape
    corner = np.median(np.concatenate([f[:, :4, :4].reshape(-1, 3), f[:, :4, -4:].reshape(-1, 3)]), 0)
    scene = min(SCENE_COLOURS, key=lambda k: np.abs(np.array(SCENE_COLOURS[k]) - corner).sum())
    yy, xx = np.mgrid[0:H, 0:W]
    cxs, cys, rs, white, magenta, brow_y, brow_corr = [], [], [], [], [], [], []
    for fr in f:
        face = np.abs(fr - corner).sum(-1) > 60
        cx, cy = xx[face].mean(), yy[face].mean()
        r = np.sqrt(face.sum() / np.pi) / 1.07
        cxs.append(cx), cys.append(cy), rs.append(r)
        inside = (xx - cx) ** 2 + (yy - cy) ** 2 < (0.95 * r) ** 2
        white.append(((fr.min(-1) > 215) & inside).sum() / r**2)
        magenta.append(((fr[..., 0] > 70) & (fr[..., 1] < 70) & (fr[..., 2] > 50) & inside).sum() / r**2)
        band = (fr.max(-1) < 80) & inside & (yy < cy - 0.3 * r) & (np.abs(xx - cx) < 0.8 * r)
        dy, dx = (yy[band] - cy) / r, np.abs(xx[band] - cx) / r
        brow_y.append(dy.mean())
        brow_corr.append(np.corrcoef(dx, dy)[0, 1] if band.sum() > 3 else 0.0)
    sx, sy = np.std(cxs) / np.mean(rs), np.std(cys) / np.mean(rs)
    head = "shake" if sx > 0.05 else "nod" if sy > 0.05 else "still"
    w, m = np.mean(white), np.mean(magenta)
    mouth = "smile" if w > 0.1 else "open" if m < 0.02 else "frown" if m > 0.2 else "flat"
    brows = "knitted" if np.mean(brow_corr) < -0.4 else "raised" if np.mean(brow_y) < -0.52 else "lowered"
    return {"mouth": mouth, "brows": brows, "head": head, "scene": scene}


def recover_audio(x: np.ndarray, sr: int = 16000) -> dict[str, str]:
    """Audio factors from the waveform: FFT peak f0 (whole clip, each half), SNR against the floor, burst count."""
    n = len(x)

    def f0(seg):
        spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), 8 * len(seg)))
        freqs = np.fft.rfftfreq(8 * len(seg), 1 / sr)
        band = (freqs > 60) & (freqs < 500)
        return freqs[band][spec[band].argmax()]

    win = sr // 50
    rms = np.sqrt(np.mean(x[: n // win * win].reshape(-1, win) ** 2, 1))
    lo, hi = np.percentile(rms, 5), np.percentile(rms, 95)
    on = rms > (lo + hi) / 2
    bursts = int(on[0]) + int(np.sum(on[1:] & ~on[:-1]))
    return {
        "pitch": "high" if f0(x) > 190 else "low",
        "intonation": "rising" if f0(x[n // 2 :]) > f0(x[: n // 2]) else "falling",
        "loudness": "loud" if hi / max(lo, 1e-6) > 20 else "soft",
        "rhythm": "fast" if bursts >= 5 else "slow",
    }


# ------------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("syn") / "a"
    ds = syn.make_synthetic(out, 30, seed=3, workers=2)
    return out, ds


def test_deterministic_by_seed(generated, tmp_path):
    out, ds = generated
    again = syn.make_synthetic(tmp_path / "b", 30, seed=3, workers=1)
    assert (out / "emocue.jsonl").read_text() == (tmp_path / "b" / "emocue.jsonl").read_text()
    names = sorted(p.name for p in (out / "clips").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b" / "clips").iterdir()) and len(names) == 30
    match, mismatch, errors = filecmp.cmpfiles(out / "clips", tmp_path / "b" / "clips", names, shallow=False)
    assert not mismatch and not errors
    assert [r["id"] for r in again] == [r["id"] for r in ds]
    other = syn.make_synthetic(tmp_path / "c", 5, seed=4, workers=1)
    assert [r["description"] for r in other] != [r["description"] for r in ds.select(range(5))]


def test_records_valid_and_loadable(generated):
    out, ds = generated
    assert validate_records(ds) == []
    loaded = load_emocue(out)
    assert len(loaded) == 30 and loaded[0]["video"] == ds[0]["video"] and loaded[0]["audio"] == ds[0]["audio"]
    assert "factors" in loaded.column_names
    assert {r["modality"] for r in ds} == {MODALITY_MULTIMODAL, MODALITY_VISUAL, MODALITY_AUDIO}
    first = json.loads((out / "emocue.jsonl").read_text().splitlines()[0])
    assert not Path(first["video"] or first["audio"]).is_absolute()


def test_media_decode_and_cues_recoverable(generated):
    _, ds = generated
    for r in ds:
        f = r["factors"]
        if r["modality"] == MODALITY_AUDIO:
            assert r["video"] is None and r["audio"].endswith(".wav")
        else:
            assert r["video"].endswith(".mp4") and r["audio"] is None
            import av

            with av.open(r["video"]) as c:
                assert c.streams.video[0].codec_context.name == "h264"
                assert len(c.streams.audio) == (1 if r["modality"] == MODALITY_MULTIMODAL else 0)
                if c.streams.audio:
                    assert c.streams.audio[0].codec_context.name == "aac"
            frames = decode_video(r["video"])
            assert frames.shape == (16, 112, 112, 3)
            got = recover_visual(frames)
            assert got == {k: f[k] for k in got}, (r["id"], got, f)
        if r["modality"] != MODALITY_VISUAL:
            wave = decode_audio(r["audio"] or r["video"])
            assert abs(len(wave) - 32000) < 2048
            got = recover_audio(wave)
            assert got == {k: f[k] for k in got}, (r["id"], got, f)


@pytest.mark.skipif(not HAS_PROJECT_MEDIA, reason="processing_xemogpt/media.py not present yet")
def test_project_media_loaders_decode_and_recover(generated):
    from processing_xemogpt import load_audio, load_video_frames

    _, ds = generated
    for r in ds.select(range(8)):
        if r["video"]:
            frames = np.asarray(load_video_frames(r["video"], num_frames=16))
            assert frames.shape == (16, 112, 112, 3) and frames.dtype == np.uint8
            got = recover_visual(frames)
            assert got == {k: r["factors"][k] for k in got}
        if r["modality"] != MODALITY_VISUAL:
            wave = np.asarray(load_audio(r["audio"] or r["video"], sampling_rate=16000), dtype=np.float32)
            got = recover_audio(wave.reshape(-1))
            assert got == {k: r["factors"][k] for k in got}


def test_project_processor_accepts_clips(generated):
    """The tiny processor turns a multimodal clip, a visual-only clip and an audio-only wav into model inputs."""
    processing = pytest.importorskip("processing_xemogpt")
    if not hasattr(processing, "XEmoGPTProcessor"):
        pytest.skip("XEmoGPTProcessor not available yet")
    processor = processing.XEmoGPTProcessor.from_preset("tiny")
    _, ds = generated
    modalities = (MODALITY_MULTIMODAL, MODALITY_VISUAL, MODALITY_AUDIO)
    by_mod = {m: next(r for r in ds if r["modality"] == m) for m in modalities}
    mm = by_mod[MODALITY_MULTIMODAL]
    out = processor(text="<audio><video> Why?", videos=mm["video"], audio=mm["video"], return_tensors="np")
    assert out["pixel_values_videos"].shape == (1, 16, 3, 224, 224)
    assert 32000 <= out["input_values"].shape[1] <= 34048
    out = processor(text="<video> Why?", videos=by_mod[MODALITY_VISUAL]["video"], return_tensors="np")
    assert out["pixel_values_videos"].shape == (1, 16, 3, 224, 224) and "input_values" not in out
    out = processor(text="<audio> Why?", audio=by_mod[MODALITY_AUDIO]["audio"], return_tensors="np")
    assert out["input_values"].shape == (1, 32000) and "pixel_values_videos" not in out


def test_texts_derived_from_cues(generated):
    _, ds = generated
    all_visual = {p for n in (*syn.VISUAL_FACTORS, *syn.GLOBAL_FACTORS) for v in syn.CUE_PHRASES[n].values() for p in v}
    all_audio = {p for n in syn.AUDIO_FACTORS for v in syn.CUE_PHRASES[n].values() for p in v}
    for r in ds:
        f, cues, desc = r["factors"], r["cues"], r["description"]
        names = syn.factors_for_modality(r["modality"])
        assert {n for n in syn.ALL_FACTORS if f[n]} == set(names)
        assert r["emotion"] == syn.emotion_from_factors({n: f[n] for n in names})
        for phrase in cues["visual"] + cues["audio"]:
            assert phrase in desc
        assert len(cues["visual"]) == sum(n in names for n in syn.VISUAL_FACTORS)
        assert len(cues["audio"]) == sum(n in names for n in syn.AUDIO_FACTORS)
        for n in names:  # every cue list entry is a phrasing of the rendered value
            assert any(p in cues["visual"] + cues["audio"] + cues["global"] for p in syn.CUE_PHRASES[n][f[n]])
        assert r["emotion"] in desc and r["emotion"] in r["short_caption"] and r["subtitle"] in syn.SUBTITLES
        if r["modality"] == MODALITY_VISUAL:
            assert cues["audio"] == [] and not any(p in desc for p in all_audio)
        if r["modality"] == MODALITY_AUDIO:
            assert cues["visual"] == [] and cues["global"] == [] and not any(p in desc for p in all_visual)
        if r["modality"] == MODALITY_MULTIMODAL:
            assert cues["global"][-1].startswith(("face and voice both convey", "mixed signals"))


def test_emotion_rule_examples_and_phrasing_variety():
    assert syn.emotion_from_factors(dict(mouth="smile", brows="raised", head="nod", scene="warm")) == "happy"
    assert syn.emotion_from_factors(dict(mouth="frown", brows="lowered", head="shake", scene="blue")) == "sad"
    assert syn.emotion_from_factors(dict(mouth="flat", brows="knitted", head="shake", scene="red")) == "angry"
    assert syn.emotion_from_factors(dict(mouth="open", brows="raised", head="still", scene="grey")) == "surprised"
    assert syn.emotion_from_factors(dict(pitch="low", intonation="falling", loudness="soft", rhythm="slow")) == "sad"
    surprised = dict(pitch="high", intonation="rising", loudness="loud", rhythm="slow")
    assert syn.emotion_from_factors(surprised) == "surprised"
    factors = dict(mouth="smile", brows="raised", head="nod", scene="warm", pitch="high", intonation="rising",
                   loudness="loud", rhythm="fast")
    texts = {syn.describe(factors, MODALITY_MULTIMODAL, np.random.default_rng(s))["description"] for s in range(10)}
    assert len(texts) > 5


def test_split_and_cli(tmp_path, capsys):
    assert syn.main(["--out", str(tmp_path / "cli"), "--n", "10", "--seed", "1", "--held-out", "0.3",
                     "--workers", "1"]) == 0
    assert "wrote 10 clips" in capsys.readouterr().out
    train, test = load_emocue(tmp_path / "cli", split="train"), load_emocue(tmp_path / "cli", split="test")
    assert len(train) == 7 and len(test) == 3 and not set(train["id"]) & set(test["id"])
    ds = load_emocue(tmp_path / "cli")
    a, b = syn.split_train_heldout(ds, 0.3, seed=5), syn.split_train_heldout(ds, 0.3, seed=5)
    assert a["test"]["id"] == b["test"]["id"]
    with pytest.raises(ValueError, match="modality_mix"):
        syn.make_synthetic(tmp_path / "bad", 3, modality_mix=(0, 0, 0))


def test_small_probe_above_chance():
    """Frozen random tiny encoders + logistic probes separate a visual and two audio cue factors."""
    from training.data.synthetic_probe import run_probe

    rows = run_probe(n_train=32, n_test=16, seed=0, vision_selects=("cls",), poolings=("mean",),
                     factors=("scene", "pitch", "loudness"), workers=1)
    for row in rows:
        assert row["accuracy"] >= max(0.8, row["chance"] + 0.25), row
