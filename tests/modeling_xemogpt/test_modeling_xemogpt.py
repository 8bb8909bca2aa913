"""XEmoGPTForConditionalGeneration: placeholder scatter, gradient blocking (§III-D3), generation, save/load, LoRA,
from_components and remote code in a fresh process."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from isolation import BLOCK_REPO_IMPORTS

from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration

T = 16
AUDIO_SAMPLES = 8000  # 0.5 s -> 24 HuBERT frames


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", bridge_dropout=0.0)).eval()


def make_batch(model, batch=2, audio_lengths=(AUDIO_SAMPLES, AUDIO_SAMPLES), with_video=True, with_audio=True):
    """Hand-built inputs in the processor's layout: [text] <video>*16 <audio>*n [text], right-padded."""
    cfg = model.config
    n_frames = [int(n) for n in model.audio_output_lengths(torch.tensor(audio_lengths[:batch]))]
    rows = []
    for i in range(batch):
        row = [11, 12]
        row += [cfg.video_token_id] * T if with_video else []
        row += [cfg.audio_token_id] * n_frames[i] if with_audio else []
        row += [13, 14, 15, 16, 17]
        rows.append(row)
    width = max(map(len, rows))
    ids = torch.full((batch, width), cfg.pad_token_id)
    mask = torch.zeros(batch, width, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    labels = torch.full_like(ids, -100)
    for i, row in enumerate(rows):  # only the last five real tokens of each row are the "answer"
        labels[i, len(row) - 5 : len(row)] = ids[i, len(row) - 5 : len(row)]
    inputs = dict(input_ids=ids, attention_mask=mask, labels=labels)
    gen = torch.Generator().manual_seed(0)
    if with_video:
        inputs["pixel_values_videos"] = torch.randn(batch, T, 3, 224, 224, generator=gen)
    if with_audio:
        max_len = max(audio_lengths[:batch])
        waves = torch.zeros(batch, max_len)
        amask = torch.zeros(batch, max_len, dtype=torch.long)
        for i, n in enumerate(audio_lengths[:batch]):
            waves[i, :n] = torch.randn(n, generator=gen)
            amask[i, :n] = 1
        inputs["input_values"], inputs["audio_attention_mask"] = waves, amask
    return inputs


def test_presets():
    paper = XEmoGPTConfig.from_preset("paper")
    assert paper.backbones["vision"] == "openai/clip-vit-large-patch14"
    assert paper.backbones["audio"] == "TencentGameMate/chinese-hubert-large"
    assert paper.backbones["text"] == "Qwen/Qwen3-4B"
    assert paper.backbones["aecb_text_encoder"] == "sentence-transformers/LaBSE"
    assert (paper.lora_r, paper.lora_alpha, paper.lora_dropout) == (512, 512, 0.05)
    assert paper.lora_target_modules == ["q_proj", "k_proj", "v_proj"]
    assert (paper.num_frames, paper.max_audio_seconds, paper.bridge_num_layers) == (16, 12.0, 2)
    assert paper.vision_config.hidden_size == 1024 and paper.text_config.hidden_size == 2560
    assert paper.vision_feature_select == "cls"
    tiny = XEmoGPTConfig.from_preset("tiny", text_config={"num_hidden_layers": 1})
    assert tiny.text_config.num_hidden_layers == 1 and tiny.text_config.hidden_size == 128
    with pytest.raises(ValueError, match="unknown XEmoGPT preset"):
        XEmoGPTConfig.from_preset("huge")
    with pytest.raises(ValueError, match="vision_feature_select"):
        XEmoGPTConfig.from_preset("tiny", vision_feature_select="max")


def test_shapes_and_one_token_per_frame(model):
    inputs = make_batch(model, audio_lengths=(8000, 5000))
    feats = model.get_frame_features(inputs["pixel_values_videos"])
    assert feats.shape == (2, T, model.config.vision_config.hidden_size)
    video = model.get_video_features(inputs["pixel_values_videos"])
    assert video.shape == (2, T, model.config.text_config.hidden_size)
    audio, frame_mask = model.get_audio_features(inputs["input_values"], inputs["audio_attention_mask"])
    assert audio.shape[:2] == frame_mask.shape and frame_mask.sum(1).tolist() == [24, 15]
    out = model(**inputs)
    assert out.logits.shape == (*inputs["input_ids"].shape, model.config.text_config.vocab_size)
    assert out.video_hidden_states.shape == (2, T, 128)


def test_placeholders_receive_the_emotion_tokens(model):
    inputs = make_batch(model)
    captured = {}
    hook = model.language_model.register_forward_pre_hook(
        lambda mod, args, kwargs: captured.update(embeds=kwargs["inputs_embeds"]), with_kwargs=True
    )
    try:
        with torch.no_grad():
            model(**inputs)
            video = model.get_video_features(inputs["pixel_values_videos"])
            audio, fmask = model.get_audio_features(inputs["input_values"], inputs["audio_attention_mask"])
    finally:
        hook.remove()
    embeds = captured["embeds"]
    ids = inputs["input_ids"]
    assert torch.allclose(embeds[ids == model.config.video_token_id], video.flatten(0, 1), atol=1e-6)
    assert torch.allclose(embeds[ids == model.config.audio_token_id], audio[fmask.bool()], atol=1e-6)
    text_pos = ids == 13
    assert torch.equal(embeds[text_pos], model.get_input_embeddings()(ids)[text_pos])


def test_audio_features_do_not_depend_on_batch_padding(model):
    wave = torch.randn(1, 6000)
    alone, _ = model.get_audio_frame_features(wave)
    padded = torch.cat([wave, torch.zeros(1, 4000)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 10000)])
    mask = torch.tensor([[1] * 6000 + [0] * 4000, [1] * 10000])
    together, fmask = model.get_audio_frame_features(batch, mask)
    n = int(fmask[0].sum())
    assert torch.allclose(alone[0], together[0, :n], atol=1e-5)


def test_precomputed_encoder_features_give_the_same_result(model):
    """Frozen-feature caches feed X_v / X_a directly; the model must behave exactly as with pixels/waveforms."""
    inputs = make_batch(model, audio_lengths=(8000, 5000))
    with torch.no_grad():
        expected = model(**inputs).logits
        frames = model.get_frame_features(inputs["pixel_values_videos"])
        audio, mask = model.get_audio_frame_features(inputs["input_values"], inputs["audio_attention_mask"])
        cached = {k: v for k, v in inputs.items() if k not in ("pixel_values_videos", "input_values", "audio_attention_mask")}
        got = model(**cached, video_frame_features=frames, audio_frame_features=audio, audio_frame_mask=mask).logits
    assert torch.allclose(got, expected, atol=1e-5)
    cached.pop("labels")
    a = model.generate(**cached, video_frame_features=frames, audio_frame_features=audio, audio_frame_mask=mask,
                       max_new_tokens=4, do_sample=False)
    b = model.generate(**{k: v for k, v in inputs.items() if k != "labels"}, max_new_tokens=4, do_sample=False)
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="either pixel_values_videos or video_frame_features"):
        model(**inputs, video_frame_features=frames)


def test_placeholder_count_mismatch_fails_clearly(model):
    inputs = make_batch(model)
    inputs["input_ids"][0, 2] = 11  # one <video> placeholder fewer than frames
    with pytest.raises(ValueError, match="31 video placeholder tokens but the video input gives 32"):
        model(**inputs)
    bare = make_batch(model)
    del bare["pixel_values_videos"]
    with pytest.raises(ValueError, match="no pixel_values_videos"):
        model(**bare)
    with pytest.raises(ValueError, match="at least 400 samples"):
        model.get_audio_frame_features(torch.randn(1, 100))


def test_either_modality_may_be_absent(model):
    for kwargs in (dict(with_audio=False), dict(with_video=False)):
        out = model(**make_batch(model, **kwargs))
        assert torch.isfinite(out.loss)


def _grad_norms(model):
    def norm(module):
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        return float(sum(g.abs().sum() for g in grads)) if grads else 0.0

    return {
        "vecb": norm(model.vecb),
        "video_projection": norm(model.video_projection),
        "aecb": norm(model.aecb),
        "audio_projection": norm(model.audio_projection),
    }


def _sample_loss_grads(model, inputs, modality, sample):
    """Gradients of the loss of one sample of a mixed batch (the other sample's labels are all -100)."""
    model.zero_grad()
    inputs = dict(inputs)
    labels = inputs["labels"].clone()
    labels[[i for i in range(labels.shape[0]) if i != sample]] = -100
    out = model(**{**inputs, "labels": labels}, modality=modality)
    out.loss.backward()
    return _grad_norms(model)


def test_gradient_blocking_per_sample_in_a_mixed_batch(model):
    inputs = make_batch(model, batch=3, audio_lengths=(8000, 8000, 6000))
    modality = ["visual", "audio", "multimodal"]
    model.train()
    try:
        visual = _sample_loss_grads(model, inputs, modality, sample=0)
        audio = _sample_loss_grads(model, inputs, modality, sample=1)
        both = _sample_loss_grads(model, inputs, modality, sample=2)
        unblocked = _sample_loss_grads(model, inputs, None, sample=0)
        coded = _sample_loss_grads(model, inputs, torch.tensor([1, 2, 0]), sample=0)
    finally:
        model.eval()
        model.zero_grad()
    # a visual sample: exact zeros on the audio branch, gradient on the video branch
    assert visual["aecb"] == 0.0 and visual["audio_projection"] == 0.0
    assert visual["vecb"] > 0 and visual["video_projection"] > 0
    # an audio sample: the mirror image
    assert audio["vecb"] == 0.0 and audio["video_projection"] == 0.0
    assert audio["aecb"] > 0 and audio["audio_projection"] > 0
    # a multimodal sample and an unblocked run reach both branches (so the zeros above come from blocking)
    assert all(v > 0 for v in both.values()) and all(v > 0 for v in unblocked.values())
    assert coded == visual  # integer modality codes behave like the strings
    # blocking changes gradients only, never the forward value
    with torch.no_grad():
        a = model(**inputs, modality=modality).logits
        b = model(**inputs).logits
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="modality must be one of"):
        model(**inputs, modality=["visual", "speech", "audio"])


def test_generate_uses_kv_cache_and_encodes_media_once(model):
    inputs = make_batch(model)
    inputs.pop("labels")
    calls = []
    hook = model.vision_tower.register_forward_hook(lambda *a: calls.append(1))
    try:
        with_cache = model.generate(**inputs, max_new_tokens=6, do_sample=False)
    finally:
        hook.remove()
    assert len(calls) == 1  # media only at the prefill step
    without_cache = model.generate(**inputs, max_new_tokens=6, do_sample=False, use_cache=False)
    assert torch.equal(with_cache, without_cache)
    new_tokens = with_cache[:, inputs["input_ids"].shape[1] :]
    assert new_tokens.shape == (2, 6)
    assert not torch.isin(new_tokens, torch.tensor([model.config.video_token_id, model.config.audio_token_id])).any()


def test_save_load_identical_logits_and_bridge_loading(model, tmp_path):
    inputs = make_batch(model)
    model.save_pretrained(tmp_path / "ckpt")
    files = set(os.listdir(tmp_path / "ckpt"))
    assert {"model.safetensors", "config.json", "modeling_xemogpt.py", "configuration_xemogpt.py"} <= files
    config = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert config["auto_map"]["AutoModel"] == "modeling_xemogpt.XEmoGPTForConditionalGeneration"
    again = XEmoGPTForConditionalGeneration.from_pretrained(tmp_path / "ckpt").eval()
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, again(**inputs).logits)

    from modeling_xemogpt import AECBForPretraining, VECBForPretraining

    torch.manual_seed(5)
    stage1 = VECBForPretraining(model.config)
    stage1.save_pretrained(tmp_path / "stage1")
    stage2 = AECBForPretraining(model.config)
    again.load_bridges(vecb=tmp_path / "stage1", aecb=stage2)
    assert torch.equal(again.vecb.position_embedding, stage1.bridge.position_embedding)
    assert torch.equal(again.aecb.encoder.norm.weight, stage2.bridge.encoder.norm.weight)
    with pytest.raises(FileNotFoundError, match="no VECB checkpoint"):
        again.load_bridges(vecb=tmp_path / "missing")


def test_lora_attaches_trains_and_saves_an_adapter(tmp_path):
    from peft import PeftModel, get_peft_model

    torch.manual_seed(0)
    base = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", bridge_dropout=0.0))
    peft_model = get_peft_model(base, base.lora_config(r=4, lora_alpha=8))
    trainable = {n for n, p in peft_model.named_parameters() if p.requires_grad}
    assert any("language_model" in n and "q_proj.lora_A" in n for n in trainable)
    assert not any("vision_tower" in n or "audio_tower" in n for n in trainable)
    assert not any(n.endswith("q_proj.base_layer.weight") for n in trainable)  # the LLM itself stays frozen
    assert any(".vecb." in n for n in trainable) and any("audio_projection" in n for n in trainable)
    inputs = make_batch(base)
    optim = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(8):
        loss = peft_model(**inputs).loss
        loss.backward()
        optim.step()
        optim.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    peft_model.eval()
    with torch.no_grad():
        expected = peft_model(**inputs).logits
    peft_model.save_pretrained(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    torch.manual_seed(0)
    fresh = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", bridge_dropout=0.0))
    reloaded = PeftModel.from_pretrained(fresh, tmp_path / "adapter").eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(**inputs).logits, expected, atol=1e-5)


def test_from_components_loads_backbones_from_local_paths(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import CLIPVisionModel, HubertModel, PreTrainedTokenizerFast, Qwen3ForCausalLM

    cfg = XEmoGPTConfig.from_preset("tiny")
    torch.manual_seed(0)
    CLIPVisionModel(cfg.vision_config).save_pretrained(tmp_path / "clip")
    HubertModel(cfg.audio_config).save_pretrained(tmp_path / "hubert")
    lm = Qwen3ForCausalLM(cfg.text_config)
    lm.save_pretrained(tmp_path / "qwen")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["the person smiles and the voice rises"] * 5, trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>").save_pretrained(
        tmp_path / "qwen"
    )
    model = XEmoGPTForConditionalGeneration.from_components(
        vision=tmp_path / "clip", audio=str(tmp_path / "hubert"), text=str(tmp_path / "qwen"), bridge_num_heads=4
    )
    vocab = len(tok.get_vocab())
    assert (model.config.video_token_id, model.config.audio_token_id) == (vocab, vocab + 1)
    reference = CLIPVisionModel.from_pretrained(tmp_path / "clip")
    for (name, a), b in zip(reference.state_dict().items(), model.vision_tower.state_dict().values()):
        assert torch.equal(a, b), name  # pretrained weights are kept, not re-initialised
    assert torch.equal(lm.lm_head.weight, model.language_model.lm_head.weight)
    assert model.config.backbones["audio"] == str(tmp_path / "hubert")
    with pytest.raises(FileNotFoundError, match="vision backbone path does not exist"):
        XEmoGPTForConditionalGeneration.from_components(vision=tmp_path / "nope", audio="x", text="y")


def test_remote_code_model_loads_in_a_fresh_process(model, tmp_path):
    """AutoModel with trust_remote_code in a process that cannot import this repository."""
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    inputs = make_batch(model)
    inputs.pop("labels")
    torch.save(inputs, tmp_path / "inputs.pt")
    with torch.no_grad():
        torch.save(model(**inputs).logits, tmp_path / "expected.pt")
    script = BLOCK_REPO_IMPORTS + textwrap.dedent(
        f"""
        import torch
        from transformers import AutoModel
        model = AutoModel.from_pretrained({str(ckpt)!r}, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        inputs = torch.load({str(tmp_path / 'inputs.pt')!r})
        with torch.no_grad():
            logits = model(**inputs).logits
        expected = torch.load({str(tmp_path / "expected.pt")!r})
        diff = (logits - expected).abs().max().item()
        assert diff < 1e-4, f"logits differ from the saving process by {{diff}}"  # summation order may differ
        out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
        print("OK", tuple(out.shape))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK (2," in result.stdout
