"""Stage-3 batches (training/collators.py): answer-only labels, right padding, media order, the audio-from-video rule
of the EmoCue sample, max_length, and the feature-cache path giving the same model inputs as decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from modeling_xemogpt.modeling_xemogpt import MODALITIES
from processing_xemogpt import MediaError, build_messages
from training.collators import XEmoGPTSFTCollator
from training.data.sample import EmoCueSample, sample_from_record

VIDEO_ID, AUDIO_ID = 3, 4

pytestmark = pytest.mark.usefixtures("torch_single_thread")


def grey_video(level: int, t: int = 16, h: int = 40, w: int = 60) -> np.ndarray:
    return np.full((t, h, w, 3), level, np.uint8)


def sample(modality, video=None, audio=None, answer="x", subtitle="", sid="s"):
    return EmoCueSample(id=sid, modality=modality, video=video, audio=audio, subtitle=subtitle, answer=answer)


def record(rid, modality, video=None, audio=None):
    return {"id": rid, "modality": modality, "video": video and str(video), "audio": audio and str(audio),
            "subtitle": "", "description": "Happy.", "emotion": "happy", "cues": {}}


def test_labels_right_padding_and_prompt_equal_to_generation(tiny_processor, mp4_with_audio, wav_file):
    samples = [
        sample("multimodal", str(mp4_with_audio), str(mp4_with_audio), "The person smiles. Happy.", "Wow!", "a"),
        sample("audio", None, str(wav_file), "Low pitch, slow speech: sad.", sid="b"),
        sample("visual", grey_video(40), str(wav_file), "Brows knitted.", sid="c"),
    ]
    batch = XEmoGPTSFTCollator(tiny_processor)(samples)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert ids.shape == labels.shape == mask.shape
    assert batch["modality"].tolist() == [MODALITIES.index(m) for m in ("multimodal", "audio", "visual")]
    assert batch["pixel_values_videos"].shape[0] == 2 and batch["input_values"].shape[0] == 3
    for row, s in enumerate(samples):
        n = int(mask[row].sum())
        assert mask[row, :n].all() and not mask[row, n:].any()  # right padding
        assert (labels[row, n:] == -100).all()
        answer_pos = labels[row] != -100
        assert tiny_processor.decode(labels[row][answer_pos]) == s.answer + "<|im_end|>"
        assert torch.equal(ids[row][answer_pos], labels[row][answer_pos])
        prompt = tiny_processor.decode(ids[row, :n][~answer_pos[:n]])
        assert prompt.endswith("<|im_start|>assistant\n")
        assert not ((labels[row] == VIDEO_ID) | (labels[row] == AUDIO_ID)).any()
    # the prompt part equals what apply_chat_template produces for generation
    gen = tiny_processor.apply_chat_template(
        build_messages(audio=str(wav_file), modality="audio"), add_generation_prompt=True, tokenize=True,
        return_tensors="pt")
    n_prompt = int((labels[1] == -100).logical_and(mask[1] == 1).sum())
    assert torch.equal(ids[1, :n_prompt], gen[0])


def test_audio_from_the_video_file(tiny_processor, mp4_with_audio, mp4_no_audio):
    collate = XEmoGPTSFTCollator(tiny_processor)
    multimodal = sample_from_record(record("m", "multimodal", mp4_with_audio))
    assert multimodal.audio == str(mp4_with_audio)
    batch = collate([multimodal])
    assert batch["input_values"].shape[0] == 1 and batch["pixel_values_videos"].shape[0] == 1
    with pytest.raises(MediaError, match="no_audio.mp4: no audio stream"):
        sample_from_record(record("a", "audio", mp4_no_audio))
    visual = sample_from_record(record("v", "visual", mp4_with_audio), feed_all_media=False)
    assert "input_values" not in collate([visual])
    # the paper's setting feeds a visual sample its clip's audio too (the model blocks the audio branch's gradient)
    assert sample_from_record(record("v", "visual", mp4_with_audio)).audio == str(mp4_with_audio)


def test_max_length_cuts_the_answer_only(tiny_processor, wav_file):
    s = sample("audio", audio=str(wav_file), answer="A soft voice and a falling intonation.")
    full = XEmoGPTSFTCollator(tiny_processor)([s])
    n_answer = int((full["labels"] != -100).sum())
    n_prompt = full["input_ids"].shape[1] - n_answer
    cut = XEmoGPTSFTCollator(tiny_processor, max_length=n_prompt + 3)([s])
    assert cut["input_ids"].shape[1] == n_prompt + 3 and int((cut["labels"] != -100).sum()) == 3
    with pytest.raises(ValueError, match="max_length"):
        XEmoGPTSFTCollator(tiny_processor, max_length=10)([s])
    with pytest.raises(ValueError, match="answer"):
        XEmoGPTSFTCollator(tiny_processor)([sample("audio", audio=str(wav_file), answer=None)])


def test_cached_features_give_the_same_model_inputs(tmp_path, tiny_processor, mp4_with_audio, wav_file):
    """Batches built from the frozen-feature cache carry the towers' outputs; the model's logits are the same."""
    from training.collators import CachedMediaFeatures
    from training.feature_cache import FeatureCache, file_key
    from training.frozen_encoders import FrozenMediaEncoders
    from training.model_loading import build_base_model
    from training.stage_arguments import ModelArguments

    model_cfg = ModelArguments(preset="tiny")
    model = build_base_model(model_cfg).eval()
    encoders = FrozenMediaEncoders(model_cfg, model=model, processor=tiny_processor)
    caches = {}
    for kind, path in (("video", str(mp4_with_audio)), ("audio", str(mp4_with_audio)), ("audio", str(wav_file))):
        cache = caches.setdefault(kind, FeatureCache(tmp_path, getattr(encoders, f"{kind}_encoder_name")))
        cache.fill([path], [file_key(path)], getattr(encoders, f"{kind}_features"),
                   load=getattr(encoders, f"load_{kind}"), disable_progress=True)
    samples = [sample("multimodal", str(mp4_with_audio), str(mp4_with_audio), "Happy.", "Hi.", "a"),
               sample("audio", None, str(wav_file), "Sad.", sid="b")]
    decoded = XEmoGPTSFTCollator(tiny_processor)(samples)
    cached = XEmoGPTSFTCollator(tiny_processor, features=CachedMediaFeatures(caches["video"], caches["audio"]))(samples)
    for key in ("input_ids", "attention_mask", "labels", "modality"):
        assert torch.equal(decoded[key], cached[key]), key
    assert "pixel_values_videos" not in cached and cached["video_frame_features"].shape == (1, 16, 64)
    with torch.no_grad():
        a = model(**decoded).logits
        b = model(**cached).logits
    assert torch.allclose(a, b, atol=1e-4), float((a - b).abs().max())


def test_cached_features_of_a_file_changed_after_the_fill(tmp_path, tiny_processor, mp4_with_audio):
    """The cache path keeps the content key each file had when its features were extracted: a clip replaced on disk
    afterwards still gives those features; without that key, a one-line error names the record and the file."""
    import shutil

    from training.collators import CachedMediaFeatures
    from training.data.media_check import BadMediaError
    from training.feature_cache import FeatureCache, file_key
    from training.frozen_encoders import FrozenMediaEncoders
    from training.stage_arguments import ModelArguments

    clip = tmp_path / "clip.mp4"
    shutil.copy(mp4_with_audio, clip)
    encoders = FrozenMediaEncoders(ModelArguments(preset="tiny"), processor=tiny_processor)
    cache = FeatureCache(tmp_path / "cache", encoders.video_encoder_name)
    key = file_key(clip)
    cache.fill([str(clip)], [key], encoders.video_features, load=encoders.load_video, disable_progress=True)
    audio_cache = FeatureCache(tmp_path / "cache", encoders.audio_encoder_name)
    samples = [sample("visual", str(clip), None, "Happy.", sid="v1")]
    before = XEmoGPTSFTCollator(tiny_processor, features=CachedMediaFeatures(cache, audio_cache,
                                                                             keys={str(clip): key}))(samples)
    clip.write_text("replaced by a text file\n" * 10)
    kept = XEmoGPTSFTCollator(tiny_processor, features=CachedMediaFeatures(cache, audio_cache,
                                                                           keys={str(clip): key}))(samples)
    assert torch.equal(before["video_frame_features"], kept["video_frame_features"])
    with pytest.raises(BadMediaError) as err:
        XEmoGPTSFTCollator(tiny_processor, features=CachedMediaFeatures(cache, audio_cache))(samples)
    assert str(err.value) == f"record 'v1': {clip}: no video features in the cache {cache.dir}; fill it first"
