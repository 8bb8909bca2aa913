"""XEmoGPTProcessor on real generated media: placeholder expansion, batching, chat template, training batches,
bad input, save/load, fresh-process remote-code load and from_components."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from processing_xemogpt import (
    XEMOGPT_CHAT_TEMPLATE,
    MediaError,
    XEmoGPTProcessor,
    build_messages,
    hubert_output_length,
)
from processing_xemogpt.tokenization_tiny import TINY_SPECIAL_TOKENS, tiny_tokenizer_json

from conftest import SR, frame_index_of

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])
VIDEO_ID, AUDIO_ID = 3, 4

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def hubert_lengths():
    """The model's own HuBERT output-length function for the tiny preset's audio config."""
    from transformers import HubertModel

    from modeling_xemogpt import XEmoGPTConfig

    model = HubertModel(XEmoGPTConfig.from_preset("tiny").audio_config)
    return lambda n: int(model._get_feat_extract_output_lengths(torch.tensor(n)))


def grey_video(level: int, t: int = 16, h: int = 40, w: int = 60) -> np.ndarray:
    return np.full((t, h, w, 3), level, np.uint8)


# ------------------------------------------------------------------------------------------------ preset / tokenizer


def test_tiny_preset_builds_fast_offline_and_deterministic():
    t0 = time.perf_counter()
    proc = XEmoGPTProcessor.from_preset("tiny")
    assert time.perf_counter() - t0 < 1.0
    tok = proc.tokenizer
    assert tok.convert_tokens_to_ids(TINY_SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    assert tok.pad_token_id == 0 and tok.eos_token == "<|im_end|>" and tok.eos_token_id == 2
    assert len(tok) <= 1024
    assert (proc.video_token_id, proc.audio_token_id) == (VIDEO_ID, AUDIO_ID)
    assert tiny_tokenizer_json.__wrapped__() == tiny_tokenizer_json()  # retraining gives the same tokenizer
    assert (proc.video_processor.crop_size.height, proc.video_processor.crop_size.width) == (224, 224)
    assert np.allclose(proc.video_processor.image_mean, CLIP_MEAN)
    assert proc.feature_extractor.sampling_rate == 16000 and proc.feature_extractor.do_normalize
    words = tok.tokenize(" smile frown brows raised knitted nod shake pitch intonation rising falling loud soft")
    assert len(words) <= 16  # the cue vocabulary is mostly whole tokens


def test_chat_template_paper_prompt_order(tiny_processor):
    msgs = build_messages(video="clip.mp4", audio="clip.mp4", subtitle="I did it!")
    # media first in the paper's order (audio, video) whatever the item order, then subtitle and instruction
    msgs[0]["content"] = msgs[0]["content"][::-1]
    prompt = tiny_processor.apply_chat_template(msgs, add_generation_prompt=True)
    assert prompt == (
        "<|im_start|>user\nAudio: <audio>\nVideo: <video>\nThe subtitle is: I did it!\n"
        "Please infer the person's emotional state and explain the visual and audio cues.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert tiny_processor.tokenizer.chat_template == XEMOGPT_CHAT_TEMPLATE


def test_build_messages_variants():
    assert build_messages(video="v.mp4")[0]["content"] == [
        {"type": "video", "path": "v.mp4"},
        {"type": "text", "text": "Please infer the person's emotional state and explain the visual cues."},
    ]
    audio_only = build_messages(audio=np.zeros(10, np.float32), subtitle="hi", answer="Calm.")
    assert audio_only[0]["content"][0]["type"] == "audio" and "audio" in audio_only[0]["content"][0]
    assert audio_only[0]["content"][1]["text"].endswith("explain the audio cues.")
    assert audio_only[1] == {"role": "assistant", "content": [{"type": "text", "text": "Calm."}]}
    forced = build_messages(video="v.mp4", audio="v.mp4", modality="visual")
    assert forced[0]["content"][-1]["text"].endswith("explain the visual cues.")
    with pytest.raises(ValueError):
        build_messages(video="v.mp4", modality="smell")


# ------------------------------------------------------------------------------------------------ __call__


def test_call_video_and_audio_files(tiny_processor, mp4_with_audio, hubert_lengths):
    text = "<|im_start|>user\nAudio: <audio>\nVideo: <video>\nWhy?<|im_end|>\n<|im_start|>assistant\n"
    out = tiny_processor(text=text, videos=str(mp4_with_audio), audio=mp4_with_audio, return_tensors="pt")
    assert set(out) == {"input_ids", "attention_mask", "pixel_values_videos", "input_values", "audio_attention_mask"}
    assert out["pixel_values_videos"].shape == (1, 16, 3, 224, 224)
    assert out["pixel_values_videos"].dtype == torch.float32
    n = int(out["audio_attention_mask"].sum())
    assert 32000 <= n <= 34048 and out["input_values"].shape == (1, n)
    assert out["audio_attention_mask"].dtype == torch.long
    ids = out["input_ids"][0]
    assert int((ids == VIDEO_ID).sum()) == 16
    assert int((ids == AUDIO_ID).sum()) == hubert_lengths(n) == n // 320 - 1 + (n % 320 >= 80)
    # placeholder runs are contiguous, audio before video
    a_pos = torch.nonzero(ids == AUDIO_ID).flatten()
    v_pos = torch.nonzero(ids == VIDEO_ID).flatten()
    assert (a_pos.diff() == 1).all() and (v_pos.diff() == 1).all() and a_pos.max() < v_pos.min()
    assert out["attention_mask"].all()
    # the input values are the feature extractor's zero-mean / unit-variance normalisation
    assert abs(float(out["input_values"].mean())) < 1e-3 and abs(float(out["input_values"].std()) - 1) < 1e-2


@pytest.mark.parametrize("n", [400, 401, 719, 720, 12345, 16000, 12 * SR, 13 * SR + 7])
def test_audio_token_count_equals_hubert_output_length(tiny_processor, hubert_lengths, n):
    wave = np.random.RandomState(n).uniform(-0.5, 0.5, n).astype(np.float32)
    out = tiny_processor(text="A <audio> B", audio=wave, return_tensors="pt")
    kept = min(n, 12 * SR)
    assert out["input_values"].shape == (1, kept)
    assert int((out["input_ids"] == AUDIO_ID).sum()) == hubert_lengths(kept) == tiny_processor.audio_token_count(n)
    assert hubert_output_length(kept) == hubert_lengths(kept)


def test_clip_normalisation_and_video_arrays(tiny_processor):
    out = tiny_processor(text="<video>", videos=grey_video(128, t=5), return_tensors="np")
    pv = out["pixel_values_videos"]
    assert pv.shape == (1, 16, 3, 224, 224)  # 5 frames resampled to 16
    expected = (128 / 255 - CLIP_MEAN) / CLIP_STD
    assert np.allclose(pv[0].mean(axis=(0, 2, 3)), expected, atol=1e-3)
    # torch uint8 and channels-first are accepted too
    t = torch.from_numpy(grey_video(128)).permute(0, 3, 1, 2)
    assert np.allclose(tiny_processor(text="<video>", videos=t)["pixel_values_videos"], pv, atol=1e-5)


def test_batch_left_padding_media_order_and_masks(tiny_processor, wav_file, hubert_lengths):
    texts = ["first <video> then <audio>", "<video>", "only text here, a longer sentence than the others"]
    # grouped per sample (lists, None) and flat give the same result; videos keep placeholder order
    grouped = tiny_processor(
        text=texts, videos=[[grey_video(30)], [grey_video(220)], None], audio=[[wav_file], [], None],
        return_tensors="pt",
    )
    flat = tiny_processor(text=texts, videos=[grey_video(30), grey_video(220)], audio=[wav_file], return_tensors="pt")
    for k in grouped:
        assert torch.equal(grouped[k], flat[k]), k
    pv = grouped["pixel_values_videos"]
    assert pv.shape[0] == 2 and float(pv[0].mean()) < float(pv[1].mean())
    ids, mask = grouped["input_ids"], grouped["attention_mask"]
    lengths = mask.sum(1)
    assert int(lengths.max()) == ids.shape[1]
    for row, n in zip(range(3), lengths.tolist()):
        assert mask[row, : ids.shape[1] - n].sum() == 0 and mask[row, ids.shape[1] - n :].all()  # left padding
        assert (ids[row, : ids.shape[1] - n] == 0).all()
    assert int((ids[0] == VIDEO_ID).sum()) == 16 and int((ids[1] == VIDEO_ID).sum()) == 16
    assert int((ids[0] == AUDIO_ID).sum()) == hubert_lengths(24000) and int((ids[2] >= 3).logical_and(ids[2] <= 4).sum()) == 0
    right = tiny_processor(text=texts[1:], videos=[grey_video(5)], padding_side="right", return_tensors="pt")
    n = int(right["attention_mask"][1].sum())
    assert right["attention_mask"][1, :n].all() and not right["attention_mask"][1, n:].any()
    assert "input_values" not in right


def test_audio_batch_padding(tiny_processor, wav_file, long_wav):
    out = tiny_processor(text=["<audio>", "<audio>"], audio=[wav_file, long_wav], return_tensors="pt")
    assert out["input_values"].shape == (2, 12 * SR)
    assert out["audio_attention_mask"].sum(1).tolist() == [24000, 12 * SR]
    assert float(out["input_values"][0, 24000:].abs().max()) == 0.0


def test_audio_dict_with_other_rate_is_resampled(tiny_processor):
    t = np.arange(44100) / 44100
    wave = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    out = tiny_processor(text="<audio>", audio={"array": wave, "sampling_rate": 44100}, return_tensors="np")
    assert out["audio_attention_mask"].sum() == 16000


def test_placeholder_count_mismatch(tiny_processor, wav_file):
    with pytest.raises(ValueError, match=r"1 <video> placeholder\(s\) but 2 video\(s\)"):
        tiny_processor(text="<video>", videos=[grey_video(1), grey_video(2)])
    with pytest.raises(ValueError, match=r"0 <audio> placeholder\(s\) but 1 audio"):
        tiny_processor(text="no placeholder", audio=wav_file)
    with pytest.raises(ValueError, match=r"2 <video> placeholder\(s\) but 0 video"):
        tiny_processor(text="<video><video>")


def test_bad_media_inputs_name_the_file(tiny_processor, media_dir, mp4_no_audio, zero_length_wav, not_media_file):
    cases = [
        (dict(text="<video>", videos=str(media_dir / "missing.mp4")), "missing.mp4", "not found"),
        (dict(text="<video>", videos=not_media_file), "not_media.mp4", "not a readable media file"),
        (dict(text="<audio>", audio=mp4_no_audio), "no_audio.mp4", "no audio stream"),
        (dict(text="<audio>", audio=zero_length_wav), "empty.wav", "zero-length"),
        (dict(text="<video>", videos=12), "videos", "expected a path"),
            (dict(text="<video>", videos=[12]), "video #0", "expected a file path"),
        (dict(text="<video>", videos=np.zeros((4, 8, 8, 3), np.float32)), "video #0", "uint8"),
        (dict(text="<audio>", audio=np.zeros(0, np.float32)), "audio #0", "zero-length"),
        (dict(text="<audio>", audio=np.zeros(100, np.float32)), "audio #0", "too short"),
        (dict(text="<audio>", audio=np.zeros((2, 800), np.float32)), "audio #0", "mono"),
        (dict(text="<audio>", audio=3.5), "audio", "expected"),
    ]
    for kwargs, name, cause in cases:
        with pytest.raises(MediaError) as err:
            tiny_processor(**kwargs)
        assert name in str(err.value) and cause in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_one_frame_video_through_processor(tiny_processor, one_frame_mp4):
    out = tiny_processor(text="<video>", videos=one_frame_mp4, return_tensors="pt")
    pv = out["pixel_values_videos"][0]
    assert pv.shape == (16, 3, 224, 224) and torch.equal(pv[0], pv[15])


# ------------------------------------------------------------------------------------------------ apply_chat_template


def test_apply_chat_template_single(tiny_processor, mp4_with_audio, hubert_lengths):
    msgs = [{"role": "user", "content": [
        {"type": "video", "path": str(mp4_with_audio)},
        {"type": "audio", "path": str(mp4_with_audio)},  # the mp4's own audio stream
        {"type": "text", "text": "The subtitle is: hello. Please infer the person's emotional state."},
    ]}]
    ids = tiny_processor.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True, return_tensors="pt")
    assert isinstance(ids, torch.Tensor) and ids.ndim == 2
    out = tiny_processor.apply_chat_template(
        msgs, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    assert torch.equal(out["input_ids"], ids)
    assert int((ids == VIDEO_ID).sum()) == 16
    assert int((ids == AUDIO_ID).sum()) == hubert_lengths(int(out["audio_attention_mask"].sum()))
    assert tiny_processor.decode(ids[0]).endswith("<|im_start|>assistant\n")
    text = tiny_processor.decode(ids[0], skip_special_tokens=True)
    assert "<video>" not in text and "Audio: \nVideo: \nThe subtitle is: hello." in text


def test_apply_chat_template_batch_video_only_audio_only(tiny_processor, mp4_no_audio, wav_file, flac_file):
    convs = [
        build_messages(video=mp4_no_audio, subtitle="one"),
        build_messages(audio=flac_file),
        build_messages(video=grey_video(77), audio=wav_file, subtitle="three"),
        build_messages(subtitle="text only"),
    ]
    prompts = tiny_processor.apply_chat_template(convs, add_generation_prompt=True)
    assert isinstance(prompts, list) and len(prompts) == 4 and "Video:" not in prompts[1]
    out = tiny_processor.apply_chat_template(
        convs, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt"
    )
    assert out["input_ids"].shape[0] == 4
    assert out["pixel_values_videos"].shape[0] == 2 and out["input_values"].shape[0] == 2
    assert ((out["input_ids"] == VIDEO_ID).sum(1)).tolist() == [16, 0, 16, 0]
    assert out["attention_mask"][:, -1].all()  # left padded for generation
    frames = tiny_processor.load_video(mp4_no_audio)
    assert [frame_index_of(f) for f in frames] == list(range(1, 32, 2))


def test_apply_chat_template_bad_file(tiny_processor, media_dir):
    msgs = build_messages(video=media_dir / "absent.mp4")
    assert "Video: <video>" in tiny_processor.apply_chat_template(msgs)  # rendering alone does not load media
    with pytest.raises(MediaError, match="absent.mp4: file not found"):
        tiny_processor.apply_chat_template(msgs, tokenize=True)


def test_modality_vocabulary_is_the_models():
    """The data schema, the processor's instructions and the model share one modality vocabulary."""
    from modeling_xemogpt.modeling_xemogpt import MODALITIES
    from processing_xemogpt import INSTRUCTIONS
    from training.data.schema import MODALITIES as RECORD_MODALITIES

    assert RECORD_MODALITIES == MODALITIES
    assert set(INSTRUCTIONS) == set(MODALITIES) | {"text"}


def test_decode_delegates(tiny_processor):
    ids = tiny_processor.tokenizer("The voice is loud.<|im_end|>")["input_ids"]
    assert tiny_processor.decode(ids, skip_special_tokens=True) == "The voice is loud."
    assert tiny_processor.batch_decode([ids, ids]) == [tiny_processor.tokenizer.decode(ids)] * 2


# ------------------------------------------------------------------------------------------------ save / load


def test_save_pretrained_roundtrip(tiny_processor, tmp_path, wav_file):
    proc = XEmoGPTProcessor.from_preset("tiny", num_frames=8, max_audio_seconds=1.0)
    proc.save_pretrained(tmp_path)
    files = set(os.listdir(tmp_path))
    assert {"processor_config.json", "processing_xemogpt.py", "media.py", "tokenization_tiny.py",
            "chat_template.jinja", "tokenizer.json", "tokenizer_config.json"} <= files
    cfg = json.loads((tmp_path / "processor_config.json").read_text())
    assert cfg["auto_map"]["AutoProcessor"] == "processing_xemogpt.XEmoGPTProcessor"
    assert cfg["video_processor"]["num_frames"] == 8 and cfg["max_audio_seconds"] == 1.0
    assert cfg["conv_stride"] == [5, 2, 2, 2, 2, 2, 2]
    loaded = XEmoGPTProcessor.from_pretrained(tmp_path)
    assert loaded.num_frames == 8 and loaded.max_audio_samples == SR
    a = proc(text="x <audio> <video>", audio=wav_file, videos=grey_video(9), return_tensors="pt")
    b = loaded(text="x <audio> <video>", audio=wav_file, videos=grey_video(9), return_tensors="pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert a["pixel_values_videos"].shape[1] == 8 and a["input_values"].shape[1] == SR


def test_remote_code_fresh_process(tmp_path, mp4_with_audio):
    """AutoProcessor(trust_remote_code) in a new interpreter, another cwd, the repo neither on sys.path nor importable."""
    ckpt = tmp_path / "ckpt"
    XEmoGPTProcessor.from_preset("tiny").save_pretrained(ckpt)
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("processing_xemogpt", "modeling_xemogpt", "training", "xemogpt_cli"):
                    raise ImportError("blocked: " + name)
        sys.meta_path.insert(0, Block())
        from transformers import AutoProcessor
        p = AutoProcessor.from_pretrained({str(ckpt)!r}, trust_remote_code=True)
        assert type(p).__name__ == "XEmoGPTProcessor", type(p)
        assert type(p).__module__.startswith("transformers_modules."), type(p).__module__
        messages = [{{"role": "user", "content": [
            {{"type": "video", "path": {str(mp4_with_audio)!r}}},
            {{"type": "audio", "path": {str(mp4_with_audio)!r}}},
            {{"type": "text", "text": "The subtitle is: hi. Please infer the person's emotional state."}}]}}]
        out = p.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                    return_dict=True, return_tensors="pt")
        p.save_pretrained({str(tmp_path / "resaved")!r})  # a remote-code processor saves its own files again
        q = AutoProcessor.from_pretrained({str(tmp_path / "resaved")!r}, trust_remote_code=True)
        assert q.apply_chat_template(messages, add_generation_prompt=True) == p.apply_chat_template(
            messages, add_generation_prompt=True)
        print(tuple(out["pixel_values_videos"].shape), int((out["input_ids"] == 3).sum()), int((out["input_ids"] == 4).sum()))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_MODULES_CACHE=str(tmp_path / "modules"))
    res = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    shape, n_video, n_audio = res.stdout.strip().splitlines()[-1].rsplit(" ", 2)
    assert shape == "(1, 16, 3, 224, 224)" and n_video == "16" and int(n_audio) > 90


def test_from_components_with_local_parts(tmp_path, wav_file):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from transformers import CLIPImageProcessor

    tiny = XEmoGPTProcessor.from_preset("tiny")
    CLIPImageProcessor().save_pretrained(tmp_path / "vision")
    tiny.feature_extractor.save_pretrained(tmp_path / "audio")
    (tmp_path / "audio" / "config.json").write_text(json.dumps(
        {"model_type": "hubert", "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 4]}
    ))
    # a text tokenizer without the placeholders and without a chat template
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(["hello world, a plain corpus"], trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    plain = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>")
    plain.save_pretrained(tmp_path / "text")
    base = len(plain)

    proc = XEmoGPTProcessor.from_components(
        vision=str(tmp_path / "vision"), audio=tmp_path / "audio", text=str(tmp_path / "text")
    )
    assert (proc.video_token_id, proc.audio_token_id) == (base, base + 1)  # appended, video first
    assert proc.tokenizer.pad_token == "<|endoftext|>" and proc.tokenizer.chat_template == XEMOGPT_CHAT_TEMPLATE
    assert proc.conv_stride == [5, 2, 2, 2, 2, 2, 4]  # read from the audio component's config.json
    out = proc.apply_chat_template(build_messages(audio=wav_file), tokenize=True, return_dict=True)
    assert sum(t == base + 1 for t in out["input_ids"][0]) == hubert_output_length(24000, proc.conv_kernel, proc.conv_stride)

    # components already holding the placeholders (the tiny tokenizer) keep their ids
    tiny.tokenizer.save_pretrained(tmp_path / "text_tiny")
    again = XEmoGPTProcessor.from_components(tmp_path / "vision", tmp_path / "audio", tmp_path / "text_tiny")
    assert (again.video_token_id, again.audio_token_id) == (VIDEO_ID, AUDIO_ID)

    # an audio checkpoint with only config.json (no preprocessor_config.json): default 16 kHz feature extractor
    (tmp_path / "hubert_only").mkdir()
    (tmp_path / "hubert_only" / "config.json").write_text((tmp_path / "audio" / "config.json").read_text())
    bare = XEmoGPTProcessor.from_components(tmp_path / "vision", tmp_path / "hubert_only", tmp_path / "text_tiny")
    assert bare.feature_extractor.return_attention_mask and bare.feature_extractor.sampling_rate == 16000

    with pytest.raises(FileNotFoundError, match="vision component .*does not exist"):
        XEmoGPTProcessor.from_components(str(tmp_path / "nope"), tmp_path / "audio", tmp_path / "text")
    with pytest.raises(OSError, match="text component"):
        XEmoGPTProcessor.from_components(tmp_path / "vision", tmp_path / "audio", "no-such-org/no-such-model")


def test_processor_saved_before_the_video_processor_still_loads(wav_file):
    """tests/data/processor_v0 was saved by the processor of the first release (a CLIP image_processor entry, no
    video processor): it loads as today's processor and gives the same inputs."""
    from pathlib import Path

    old = XEmoGPTProcessor.from_pretrained(Path(__file__).parents[1] / "data" / "processor_v0")
    new = XEmoGPTProcessor.from_preset("tiny")
    assert type(old.video_processor).__name__ == "XEmoGPTVideoProcessor" and old.num_frames == 16
    text = "x <audio> <video>"
    a = old(text=text, audio=wav_file, videos=grey_video(90, t=9), return_tensors="pt")
    b = new(text=text, audio=wav_file, videos=grey_video(90, t=9), return_tensors="pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
