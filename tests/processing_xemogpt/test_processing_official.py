"""The "official" prompt style (the XEmoGPT authors' prompt, pad-token BOS, audio before video) and their frame rule
("uniform_all_frames"), on real generated media: token-by-token parity with the authors' segment-wise tokenisation,
frame indices, pixels against transformers' CLIP image processor, save/load, from_components, and `xemogpt describe`
on a tiny random checkpoint whose processor is official."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from processing_xemogpt import XEmoGPTProcessor, XEmoGPTVideoProcessor, build_messages
from processing_xemogpt.media import load_video_frames
from processing_xemogpt.tokenization_tiny import tiny_tokenizer_json
from training.data.media_writer import write_mp4

from conftest import frame_index_of, make_indexed_frames

pytestmark = pytest.mark.usefixtures("torch_single_thread")

# The authors' inference.py, character for character (their instruction keeps its newlines, indentation and trailing
# spaces); {sentence} is the subtitle.
AUTHORS_INSTRUCTION = """
                Please describe the speaker's emotional state in the video. 
                **Output Requirements:**  
                Present the synthesized multimodal information in a well-structured paragraph, such as: 'In the video, ... In the audio, ...'. 
                Conclude the paragraph with an emotion state inference based on all cues. 
                """  # noqa: W291 (the trailing spaces are part of the prompt)
AUTHORS_PROMPT = (
    "###Human: The audio content is as follows: <Audio><AudioHere></Audio>. "
    "Meanwhile, we uniformly sample raw frames from the video: <Video><VideoHere></Video>. "
    "The subtitle of this video is: <Subtitle>{sentence}</Subtitle>. "
    f"Now, please answer my question based on all the provided information. {AUTHORS_INSTRUCTION} ###Assistant: "
)
SUBTITLE = "I can't believe it... <b>really?</b>  Fine."
PLACEHOLDERS = ("<video>", "<audio>")


def authors_ids(tokenizer, sentence: str, n_audio: int | None, n_video: int | None, video_id: int, audio_id: int):
    """The ids the authors' model sees, by their rule: the prompt split at <AudioHere> (when there is audio), then at
    <VideoHere> (when there is video), each text piece tokenised on its own without special tokens, the media in
    between, the pad token first. (Absent media leave their <...Here> text in the prompt, as in their code.)"""
    pieces = [AUTHORS_PROMPT.format(sentence=sentence)]
    if n_audio is not None:
        pieces = pieces[-1].split("<AudioHere>")
        head_audio = pieces[0]
    if n_video is not None:
        pieces = pieces[-1].split("<VideoHere>")
    ids = [tokenizer.pad_token_id]
    enc = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    if n_audio is not None:
        ids += enc(head_audio) + [audio_id] * n_audio
    if n_video is not None:
        ids += enc(pieces[0]) + [video_id] * n_video
    return ids + enc(pieces[-1])


def qwen_style_tokenizer():
    """A ``Qwen2Tokenizer`` (Qwen's pre-tokenizer regex, NFC, byte-level BPE; eos <|im_end|>, pad <|endoftext|>) on
    the tiny BPE's vocabulary without the <video>/<audio> placeholders, as a real Qwen tokenizer lacks them."""
    from transformers import Qwen2Tokenizer

    model = json.loads(tiny_tokenizer_json())["model"]
    vocab = {}
    for token, _ in sorted(model["vocab"].items(), key=lambda kv: kv[1]):
        if token not in PLACEHOLDERS:
            vocab[token] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                          unk_token=None, bos_token=None)


@pytest.fixture(scope="module")
def official():
    return XEmoGPTProcessor.from_preset("tiny", prompt_style="official")


@pytest.fixture(scope="module")
def components(tmp_path_factory):
    """Local CLIP vision / HuBERT / Qwen3 components with tiny random weights; the text tokenizer is Qwen-style and
    lacks the placeholders (what a converter of the authors' checkpoint starts from)."""
    from transformers import CLIPImageProcessor, CLIPVisionModel, HubertModel, Qwen3ForCausalLM

    from modeling_xemogpt import XEmoGPTConfig

    root = tmp_path_factory.mktemp("components")
    cfg = XEmoGPTConfig.from_preset("tiny")
    torch.manual_seed(0)
    CLIPVisionModel(cfg.vision_config).save_pretrained(root / "vision")
    CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}).save_pretrained(
        root / "vision")
    HubertModel(cfg.audio_config).save_pretrained(root / "audio")
    XEmoGPTProcessor.from_preset("tiny").feature_extractor.save_pretrained(root / "audio")
    Qwen3ForCausalLM(cfg.text_config).save_pretrained(root / "text")
    qwen_style_tokenizer().save_pretrained(root / "text")
    return root


def noise_clip(path: Path, n: int, h: int, w: int, seed: int = 0) -> Path:
    """A real H.264 clip of textured frames (8x8 blocks of noise, shifting), so resizing has detail to disagree on."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (h // 8, w // 8, 3)).astype(np.uint8)
    frames = np.stack([np.kron(np.roll(base, t, axis=1), np.ones((8, 8, 1), np.uint8)) for t in range(n)])
    return write_mp4(path, frames, fps=10)


# ------------------------------------------------------------------------------------------------ prompt tokens


@pytest.mark.parametrize("media", ["both", "video", "audio", "none"])
def test_official_prompt_ids_equal_segment_tokenization(official, media):
    """Whole-string tokenisation of the rendered official prompt (placeholders expanded) equals the authors' rule,
    token by token: the tokenizer splits on the added placeholder / pad tokens before anything else."""
    wave = (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32)
    video = np.zeros((20, 32, 32, 3), np.uint8)
    with_video, with_audio = media in ("both", "video"), media in ("both", "audio")
    messages = official.build_messages(video=video if with_video else None, audio=wave if with_audio else None,
                                       subtitle=SUBTITLE)
    out = official.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                       return_tensors="pt")
    n_audio = official.audio_token_count(wave.size)
    expected = authors_ids(official.tokenizer, SUBTITLE, n_audio if with_audio else None,
                           16 if with_video else None, official.video_token_id, official.audio_token_id)
    assert out["input_ids"][0].tolist() == expected
    assert out["attention_mask"].tolist() == [[1] * len(expected)]
    assert out["input_ids"][0, 0].item() == official.tokenizer.pad_token_id  # the pad token as BOS
    # the rendered text is the authors' prompt with the media as placeholders (audio before video)
    text = official.apply_chat_template(messages, add_generation_prompt=True)
    prompt = AUTHORS_PROMPT.format(sentence=SUBTITLE)
    if with_audio:
        prompt = prompt.replace("<AudioHere>", "<audio>")
    if with_video:
        prompt = prompt.replace("<VideoHere>", "<video>")
    assert text == "<|endoftext|>" + prompt
    assert ("pixel_values_videos" in out) == with_video and ("input_values" in out) == with_audio


def test_official_prompt_ids_with_a_qwen_style_tokenizer(official):
    """The same parity with Qwen's pre-tokenizer (regex split + NFC) and placeholders appended by prepare_tokenizer."""
    tokenizer = XEmoGPTProcessor.prepare_tokenizer(qwen_style_tokenizer())
    proc = XEmoGPTProcessor(official.video_processor, official.feature_extractor, tokenizer, prompt_style="official")
    assert (proc.video_token_id, proc.audio_token_id) == (len(tokenizer) - 2, len(tokenizer) - 1)
    wave = (0.1 * np.random.default_rng(1).standard_normal(24000)).astype(np.float32)
    video = np.full((16, 32, 32, 3), 7, np.uint8)
    subtitle = "Ça va? Naïve café — «quoted»\t tabs\nnew line"
    out = proc.apply_chat_template(proc.build_messages(video=video, audio=wave, subtitle=subtitle),
                                   add_generation_prompt=True, tokenize=True, return_dict=True)
    assert out["input_ids"][0] == authors_ids(tokenizer, subtitle, proc.audio_token_count(wave.size), 16,
                                              proc.video_token_id, proc.audio_token_id)


def test_official_training_ids_labels_and_the_collator(official, mp4_with_audio):
    """With the answer: prompt, then the answer tokenised on its own plus eos (the authors tokenise
    ``answer + eos_token``), labels -100 on the prompt; the stage-3 collator builds the same batch."""
    from training.collators import XEmoGPTSFTCollator
    from training.data.sample import EmoCueSample

    answer = "In the video, the person smiles. In the audio, the voice rises. The person feels happy."
    tok = official.tokenizer
    clip = str(mp4_with_audio)
    messages = official.build_messages(video=clip, audio=clip, subtitle="Hi.", answer=answer)
    out = official.apply_chat_template(messages, tokenize=True, return_dict=True, return_tensors="pt")
    prompt = official.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=True,
                                          return_dict=True)["input_ids"][0]
    target = tok(answer + tok.eos_token)["input_ids"]
    assert target[-1] == tok.eos_token_id == official.end_of_turn_id
    assert out["input_ids"][0].tolist() == prompt + target
    assert out["labels"][0].tolist() == [-100] * len(prompt) + target
    assert "\n" not in official.apply_chat_template(messages)[-40:] and official.apply_chat_template(
        messages).endswith(" ###Assistant: " + answer + "<|im_end|>")

    # a batch: each row as on its own, padded with the pad id / label -100 / mask 0 on the side asked for
    short = official.build_messages(video=clip, subtitle="Hi.", answer="Sad.")
    batch = official.apply_chat_template([messages, short], tokenize=True, return_dict=True, return_tensors="pt",
                                         padding_side="right")
    alone = official.apply_chat_template(short, tokenize=True, return_dict=True)
    n = len(alone["input_ids"][0])
    assert batch["input_ids"][0].tolist() == out["input_ids"][0].tolist()
    assert batch["input_ids"][1, :n].tolist() == alone["input_ids"][0] and batch["labels"][1, :n].tolist() == \
        alone["labels"][0]
    assert (batch["input_ids"][1, n:] == tok.pad_token_id).all() and (batch["labels"][1, n:] == -100).all()
    assert batch["attention_mask"][1].tolist() == [1] * n + [0] * (batch["input_ids"].shape[1] - n)
    assert batch["pixel_values_videos"].shape[0] == 2 and batch["input_values"].shape[0] == 1
    with pytest.raises(ValueError, match="mixes"):
        official.apply_chat_template([messages, short[:1]], tokenize=True)

    sample = EmoCueSample(id="a", modality="multimodal", video=clip, audio=clip, subtitle="Hi.", answer=answer)
    batch = XEmoGPTSFTCollator(official)([sample])
    assert batch["input_ids"][0].tolist() == out["input_ids"][0].tolist()
    assert batch["labels"][0].tolist() == out["labels"][0].tolist()
    assert torch.equal(batch["pixel_values_videos"], out["pixel_values_videos"])
    assert torch.equal(batch["input_values"], out["input_values"])


def test_build_messages_dispatches_on_the_style(official, tiny_processor):
    assert tiny_processor.build_messages(video="v.mp4", subtitle="x") == build_messages(video="v.mp4", subtitle="x")
    msgs = official.build_messages(audio="a.wav", answer="Calm.")
    assert msgs[0]["content"][1] == {"type": "audio", "path": "a.wav"}
    assert "<VideoHere>" in msgs[0]["content"][2]["text"] and "<Subtitle></Subtitle>" in msgs[0]["content"][2]["text"]
    assert msgs[1] == {"role": "assistant", "content": [{"type": "text", "text": "Calm."}]}
    custom = official.build_messages(video="v.mp4", instruction="Name the emotion.")
    assert custom[0]["content"][-1]["text"].endswith("provided information. Name the emotion.")
    with pytest.raises(ValueError, match="modality"):
        official.build_messages(video="v.mp4", modality="smell")
    with pytest.raises(ValueError, match="prompt_style"):
        XEmoGPTProcessor.from_preset("tiny", prompt_style="chatml")


# ------------------------------------------------------------------------------------------------ frames / pixels


def test_uniform_all_frames_indices_on_real_clips(mp4_with_audio, mp4_short_gop, long_mp4):
    """The authors' rule picks frames linspace(0, n-1, 16) (truncated) of the clip's n frames: the same frames as
    decoding every frame with PyAV and picking those indices."""
    import av

    expected = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 31]  # n = 32
    assert np.linspace(0, 31, 16, dtype=int).tolist() == expected
    for clip in (mp4_with_audio, mp4_short_gop):
        frames = load_video_frames(clip, 16, frame_sampling="uniform_all_frames")
        assert [frame_index_of(f) for f in frames] == expected
        with av.open(str(clip)) as container:
            every = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(every) == 32 and np.array_equal(frames, np.stack([every[i] for i in expected]))
    default = load_video_frames(mp4_with_audio, 16)  # the package's default rule is unchanged
    assert [frame_index_of(f) for f in default] == list(range(1, 32, 2))

    # 240 frames at 4 fps; a time window [10 s, 20 s) holds frames 40..79
    assert [frame_index_of(f) for f in load_video_frames(long_mp4, 16, frame_sampling="uniform_all_frames")] == \
        np.linspace(0, 239, 16, dtype=int).tolist()
    window = load_video_frames(long_mp4, 16, start=10.0, end=20.0, frame_sampling="uniform_all_frames")
    assert [frame_index_of(f) for f in window] == (40 + np.linspace(0, 39, 16, dtype=int)).tolist()

    # through the processor: files and arrays of all frames give the same frames
    vp = XEmoGPTVideoProcessor(frame_sampling="uniform_all_frames")
    assert [frame_index_of(f) for f in vp.load_video(mp4_with_audio)] == expected
    assert [frame_index_of(f) for f in vp.load_video(make_indexed_frames(32))] == expected
    with pytest.raises(ValueError, match="frame_sampling"):
        load_video_frames(mp4_with_audio, 16, frame_sampling="random")


def test_pixels_equal_clip_image_processor_on_decoded_frames(tmp_path):
    """The video processor's pixels equal transformers' CLIP image processor (the fast one the authors use,
    ``CLIPImageProcessorFast``) on the same decoded frames given as PIL images: max |Δ| = 0."""
    import warnings

    from PIL import Image
    from transformers import CLIPImageProcessor

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from transformers import CLIPImageProcessorFast as Reference  # the authors' class (an alias in v5)
    except ImportError:  # pragma: no cover - older or newer transformers
        Reference = CLIPImageProcessor
    ref_proc = Reference(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, resample=3,
                         do_center_crop=True)
    vp = XEmoGPTVideoProcessor.from_image_processor(ref_proc, frame_sampling="uniform_all_frames")
    for i, (h, w) in enumerate([(240, 320), (360, 272), (96, 96)]):
        clip = noise_clip(tmp_path / f"noise{i}.mp4", 23, h, w, seed=i)
        frames = vp.load_video(clip)
        ours = vp(videos=[clip], return_tensors="pt")["pixel_values_videos"][0]
        ref = ref_proc(images=[Image.fromarray(f) for f in frames], return_tensors="pt")["pixel_values"]
        assert ours.shape == ref.shape == (16, 3, 224, 224)
        assert (ours - ref).abs().max().item() == 0.0


# ------------------------------------------------------------------------------------------------ save / load


def test_official_save_load_round_trip(official, tmp_path, wav_file, mp4_with_audio):
    official.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "processor_config.json").read_text())
    assert cfg["prompt_style"] == "official"
    assert cfg["video_processor"]["frame_sampling"] == "uniform_all_frames"
    loaded = XEmoGPTProcessor.from_pretrained(tmp_path)
    assert loaded.prompt_style == "official" and loaded.video_processor.frame_sampling == "uniform_all_frames"
    messages = official.build_messages(video=str(mp4_with_audio), audio=str(wav_file), subtitle="Hi.")
    assert loaded.build_messages(video=str(mp4_with_audio), audio=str(wav_file), subtitle="Hi.") == messages
    a = official.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                     return_tensors="pt")
    b = loaded.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                   return_tensors="pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_old_processor_loads_as_xemogpt_style(tiny_processor):
    old = XEmoGPTProcessor.from_pretrained(Path(__file__).parents[1] / "data" / "processor_v0")
    assert old.prompt_style == "xemogpt" and old.video_processor.frame_sampling == "segment_middle"
    messages = old.build_messages(video="v.mp4", audio="v.mp4", subtitle="Hi.")
    assert messages == build_messages(video="v.mp4", audio="v.mp4", subtitle="Hi.")
    assert old.apply_chat_template(messages, add_generation_prompt=True) == tiny_processor.apply_chat_template(
        messages, add_generation_prompt=True)
    assert old.end_of_turn_id == tiny_processor.end_of_turn_id == 2


# ------------------------------------------------------------------------------------------------ components / CLI


@pytest.fixture(scope="module")
def official_checkpoint(components, tmp_path_factory):
    """What the converter makes: model and official processor from the same components, saved together."""
    from modeling_xemogpt import XEmoGPTForConditionalGeneration

    root = components
    proc = XEmoGPTProcessor.from_components(vision=root / "vision", audio=root / "audio", text=root / "text",
                                            prompt_style="official")
    torch.manual_seed(0)
    model = XEmoGPTForConditionalGeneration.from_components(vision=root / "vision", audio=root / "audio",
                                                            text=root / "text", bridge_num_heads=4)
    ckpt = tmp_path_factory.mktemp("official_ckpt")
    model.save_pretrained(ckpt)
    proc.save_pretrained(ckpt)
    return ckpt, model, proc


def test_from_components_official_agrees_with_the_model(official_checkpoint):
    _, model, proc = official_checkpoint
    base = len(qwen_style_tokenizer())
    assert (proc.video_token_id, proc.audio_token_id) == (base, base + 1)  # appended, video first
    assert (model.config.video_token_id, model.config.audio_token_id) == (proc.video_token_id, proc.audio_token_id)
    assert model.config.pad_token_id == proc.tokenizer.pad_token_id
    assert proc.prompt_style == "official" and proc.video_processor.frame_sampling == "uniform_all_frames"
    assert proc.end_of_turn_id == proc.tokenizer.eos_token_id


def test_describe_uses_the_checkpoints_official_prompt(official_checkpoint, mp4_with_audio, capsys, monkeypatch,
                                                       tmp_path):
    """`xemogpt describe --model DIR` on a checkpoint whose processor is official: the model is prompted with the
    authors' prompt (ids checked against their rule) and the authors' frames; the answer has no special tokens."""
    from processing_xemogpt import XEmoGPTPipeline, load_audio
    from xemogpt_cli import inference
    from xemogpt_cli.main import main

    ckpt, _, proc = official_checkpoint
    seen = []
    real_inputs_for = XEmoGPTPipeline.inputs_for

    def recording_inputs_for(self, conversations):
        inputs = real_inputs_for(self, conversations)
        seen.append(inputs)
        return inputs

    monkeypatch.setattr(XEmoGPTPipeline, "inputs_for", recording_inputs_for)
    monkeypatch.delenv(inference.MODEL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    rc = main(["describe", str(mp4_with_audio), "--model", str(ckpt), "--subtitle", "Hi there.",
               "--max-new-tokens", "6", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    record = json.loads(out)
    assert record["modality"] == "multimodal" and record["error"] is None
    assert not any(t in record["explanation"] for t in ("<|endoftext|>", "<|im_end|>", "<video>", "<audio>"))

    (inputs,) = seen
    n_audio = proc.audio_token_count(load_audio(mp4_with_audio, sampling_rate=16000, max_seconds=12).size)
    assert inputs["input_ids"][0].tolist() == authors_ids(proc.tokenizer, "Hi there.", n_audio, 16,
                                                          proc.video_token_id, proc.audio_token_id)
    expected_pixels = proc.video_processor(videos=[load_video_frames(mp4_with_audio, 16,
                                                                     frame_sampling="uniform_all_frames")],
                                           return_tensors="pt")["pixel_values_videos"]
    assert torch.equal(inputs["pixel_values_videos"], expected_pixels)


def test_describer_describe_uses_the_official_prompt(official_checkpoint, mp4_no_audio, monkeypatch):
    """The app's path (`xemogpt serve`): Describer.describe builds the prompt through the processor too."""
    from xemogpt_cli import inference

    ckpt, _, proc = official_checkpoint
    describer = inference.Describer(str(ckpt), max_new_tokens=4)
    assert describer.frame_sampling == "uniform_all_frames"
    seen = []
    real = describer.pipeline.inputs_for
    monkeypatch.setattr(describer.pipeline, "inputs_for", lambda convs: seen.append(real(convs)) or seen[-1])
    desc = describer.describe(str(mp4_no_audio), subtitle="", frames=True)
    assert desc.modality == "visual" and len(desc.frames) == 16
    assert seen[0]["input_ids"][0].tolist() == authors_ids(proc.tokenizer, "", None, 16, proc.video_token_id,
                                                           proc.audio_token_id)
    assert [frame_index_of(np.asarray(f)) for f in desc.frames] == np.linspace(0, 31, 16, dtype=int).tolist()


def test_official_style_keeps_the_audio_backbones_own_normalisation(tmp_path):
    """The authors feed HuBERT what the backbone's preprocessor_config.json says; the xemogpt style always normalises.
    The choice survives save/load."""
    from transformers import CLIPImageProcessor, Wav2Vec2FeatureExtractor

    from processing_xemogpt import XEmoGPTProcessor
    from processing_xemogpt.tokenization_tiny import build_tiny_tokenizer

    CLIPImageProcessor().save_pretrained(tmp_path / "clip")
    Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(tmp_path / "hubert")
    build_tiny_tokenizer().save_pretrained(tmp_path / "qwen")
    for style, expected in (("official", False), ("xemogpt", True)):
        processor = XEmoGPTProcessor.from_components(tmp_path / "clip", tmp_path / "hubert", tmp_path / "qwen",
                                                     prompt_style=style)
        assert processor.feature_extractor.do_normalize is expected, style
        processor.save_pretrained(tmp_path / style)
        assert XEmoGPTProcessor.from_pretrained(tmp_path / style).feature_extractor.do_normalize is expected, style
