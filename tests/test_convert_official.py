"""``xemogpt convert-official``: the authors' release layout (tiny stand-in, tests/official_release.py) -> an ordinary
checkpoint whose forward equals the release's computation, and one-line errors for checkpoints it cannot convert."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from modeling_xemogpt.convert_official import ConversionError, convert_official_checkpoint
from tests.official_release import LORA_ALPHA, LORA_R, build_release
from xemogpt_cli.main import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    torch.set_num_threads(1)
    return build_release(tmp_path_factory.mktemp("release"))


@pytest.fixture(scope="module")
def converted(release, tmp_path_factory):
    """The full release converted twice: LoRA kept as layers (default) and merged."""
    out = {}
    for merge in (False, True):
        folder = tmp_path_factory.mktemp("merged" if merge else "lora")
        convert_official_checkpoint(release.full, release.vision, release.audio, release.text, folder / "ckpt",
                                    lora_alpha=LORA_ALPHA, merge_lora=merge)
        out[merge] = folder / "ckpt"
    return out


def load(path):
    from transformers import AutoModel

    return AutoModel.from_pretrained(path, trust_remote_code=True).eval()


def test_converted_checkpoint_computes_what_the_release_computes(release, converted):
    torch.manual_seed(0)
    pixels = torch.randn(16, 3, 224, 224)
    wave = torch.randn(16000)
    inputs_embeds = torch.randn(1, 7, release.llm.config.hidden_size)
    expected_video = release.reference_video_tokens(pixels)
    expected_audio = release.reference_audio_tokens(wave)
    expected_logits = release.reference_logits(inputs_embeds)
    for merge, path in converted.items():
        model = load(path)
        assert model.config.bridge_layer_type == "backbone" and model.config.lora_r == LORA_R
        assert (model.config.text_lora is None) == merge
        with torch.no_grad():
            video = model.get_video_features(pixels[None])[0]
            audio, mask = model.get_audio_features(wave[None])
            logits = model.language_model(inputs_embeds=inputs_embeds).logits
        assert (video - expected_video).abs().max() < 1e-5, merge
        assert mask.all() and (audio[0] - expected_audio).abs().max() < 1e-5, merge
        assert (logits - expected_logits).abs().max() < (1e-5 if not merge else 1e-4), merge


def test_trainable_only_checkpoint_takes_frozen_weights_from_the_backbones(release, converted, tmp_path):
    report = convert_official_checkpoint(release.trainable, release.vision, release.audio, release.text, tmp_path / "t",
                                         lora_alpha=LORA_ALPHA)
    assert report["trainable_only"] and report["from_backbones"] > 0
    full, trainable = load(converted[False]).state_dict(), load(tmp_path / "t").state_dict()
    assert full.keys() == trainable.keys()
    for key in full:
        assert torch.equal(full[key], trainable[key]), key


def test_conversion_writes_an_ordinary_checkpoint(release, converted):
    from modeling_xemogpt import VECBForPretraining
    from modeling_xemogpt.modeling_aecb import AECBForPretraining

    path = converted[True]
    report = json.loads((path / "conversion.json").read_text())
    assert report["lora"] == {"r": LORA_R, "alpha": LORA_ALPHA, "merged": True}
    assert report["initialised_fresh"]["stage1_vecb"] == ["alignment.logit_scale"]
    assert sorted(report["initialised_fresh"]["stage2_aecb"]) == [
        "alignment.logit_scale", "alignment.text_projection.bias", "alignment.text_projection.weight"]
    generation = json.loads((path / "generation_config.json").read_text())
    assert (generation["num_beams"], generation["do_sample"], generation["temperature"], generation["top_p"],
            generation["max_new_tokens"]) == (5, True, 0.3, 0.9, 756)
    assert not list(path.glob("*.bin")) and list(path.glob("*.safetensors"))
    # the stage-1/2 heads convert too: stage 1/2 can go on from them
    stage1 = VECBForPretraining.from_pretrained(path / "stage1_vecb")
    full = torch.load(release.full, weights_only=True)
    assert torch.equal(stage1.temporal_head[2].weight, full["visual_encoder.temporal_disc_head.2.weight"])
    assert torch.equal(stage1.attention_pooling.attn_vector, full["visual_encoder.attention_pooling.attn_vector"])
    assert torch.equal(stage1.bridge.position_embedding, full["visual_encoder.position_embedding"][0])
    stage2 = AECBForPretraining.from_pretrained(path / "stage2_aecb")
    assert torch.equal(stage2.alignment.modality_projection.weight, full["audio_encoder.audio_project.weight"])
    out = stage1(torch.randn(4, 16, release.clip.config.vision_config.hidden_size), torch.randn(4, 24))
    assert torch.isfinite(out.loss)


def test_cli_converts_and_reports(release, tmp_path, capsys):
    code = main(["convert-official", "--checkpoint", str(release.trainable), "--vision", str(release.vision),
                 "--audio", str(release.audio), "--text", str(release.text), "--lora-alpha", str(LORA_ALPHA),
                 "--merge-lora", "--out", str(tmp_path / "cli")])
    assert code == 0
    assert "(LoRA r=16 alpha=32, merged)" in capsys.readouterr().out
    assert main(["convert-official", "--checkpoint", str(release.trainable), "--vision", str(release.vision),
                 "--audio", str(release.audio), "--text", str(release.text), "--out", str(tmp_path / "cli")]) == 1
    assert "output directory exists and is not empty" in capsys.readouterr().err


def _broken(release, tmp_path, change):
    state = torch.load(release.full, weights_only=True)
    change(state)
    path = tmp_path / "broken.ckpt"
    torch.save(state, path)
    return path


class NotATensor:
    pass


@pytest.mark.parametrize("change, message", [
    (lambda s: s.update({"visual_encoder.extra_head.weight": torch.zeros(2)}),
     "1 keys not in the XEmoGPT release layout: visual_encoder.extra_head.weight"),
    (lambda s: s.pop("visual_llm_project.weight"), "1 missing keys (neither in the checkpoint nor in the backbones): video_projection.weight"),
    (lambda s: s.update({"audio_llm_project.weight": torch.zeros(3, 3)}), "1 shape mismatches (checkpoint vs model): audio_projection.weight (3, 3) vs"),
], ids=["unknown-key", "missing-key", "shape-mismatch"])
def test_bad_checkpoints_stop_with_one_message(release, tmp_path, change, message):
    path = _broken(release, tmp_path, change)
    with pytest.raises(ConversionError, match="^" + re.escape(f"{path}: ")) as info:
        convert_official_checkpoint(path, release.vision, release.audio, release.text, tmp_path / "out", lora_alpha=LORA_ALPHA)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()


def test_unreadable_and_unsafe_files_are_refused(release, tmp_path):
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"weight": NotATensor()}, pickled)
    for path, reason in ((garbage, "not a checkpoint torch.load can read safely"),
                         (pickled, "not a checkpoint torch.load can read safely (UnpicklingError"),
                         (tmp_path / "absent.ckpt", "checkpoint file not found")):
        with pytest.raises(ConversionError, match=re.escape(f"{path}: {reason}")):
            convert_official_checkpoint(path, release.vision, release.audio, release.text, tmp_path / "o")


def test_stage3_and_stage4_start_from_a_converted_checkpoint(converted, tmp_path):
    """A converted release is a starting point: stage 3 trains on the user's records from it (its own bridges, its
    unmerged LoRA folded in first, its official prompt style) and stage 4 continues from stage 3's merged output."""
    from transformers import AutoModel, AutoProcessor

    from conftest import synthetic_split
    from training.stage3_sft import main as stage3
    from training.stage4_grpo import main as stage4

    synthetic_split(tmp_path, 10, 8, seed=3, workers=1)
    cfg = ROOT / "training" / "configs"
    common = ["--train_file", str(tmp_path / "train.jsonl"), "--eval_file", "null", "--cache_dir", str(tmp_path / "cache"),
              "--disable_tqdm", "true", "--max_steps", "2", "--per_device_train_batch_size", "4"]
    figures = stage3(["--config", str(cfg / "stage3_tiny.yaml"), "--base_model", str(converted[False]),
                      "--config_overrides", "{}", "--vecb", "null", "--aecb", "null",
                      "--output_dir", str(tmp_path / "s3"), "--save_strategy", "no", *common])
    assert figures["global_step"] == 2
    merged = tmp_path / "s3" / "merged"
    model = AutoModel.from_pretrained(merged, trust_remote_code=True)
    assert model.config.bridge_layer_type == "backbone" and model.config.text_lora is None
    assert AutoProcessor.from_pretrained(merged, trust_remote_code=True).prompt_style == "official"
    release_vecb = load(converted[False]).vecb.state_dict()
    moved = [k for k, v in model.vecb.state_dict().items() if not torch.equal(v, release_vecb[k])]
    assert moved, "stage 3 trained the release's VECB"
    figures = stage4(["--config", str(cfg / "stage4_tiny.yaml"), "--base_model", str(merged),
                      "--output_dir", str(tmp_path / "s4"), "--logging_steps", "1", "--max_completion_length", "16",
                      *common])
    assert figures["global_step"] == 2
    assert (tmp_path / "s4" / "merged" / "config.json").is_file()


def test_describe_a_clip_with_the_converted_release(converted, mp4_with_audio, capsys):
    """`xemogpt describe --model` on a converted release: the official prompt (checked in test_processing_official),
    greedy by default, or the checkpoint's own decoding (the authors' beam-5 sampling)."""
    for decoding in ("greedy", "checkpoint"):
        code = main(["describe", str(mp4_with_audio), "--model", str(converted[True]), "--subtitle", "Oh, okay.",
                     "--max-new-tokens", "6", "--decoding", decoding, "--json"])
        assert code == 0, capsys.readouterr().err
        record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert record["id"] and record.get("error") is None and isinstance(record["explanation"], str), record


def test_converted_release_has_a_card_and_publishes(converted, monkeypatch):
    """The converter's model card says where the weights came from and is read by the Hub's parser; `hub_cards`
    publishes the converted folder (mocked HfApi: one commit with the card, safetensors and the stage-1/2 heads)."""
    from unittest import mock

    from huggingface_hub import HfApi, ModelCard

    from hub_cards import publish_checkpoint

    path = converted[True]
    card = ModelCard.load(path / "README.md")
    sha = json.loads((path / "conversion.json").read_text())["source_sha256"]
    assert f"sha256 {sha}" in card.text and card.data.license == "unknown"
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    api = mock.create_autospec(HfApi, instance=True)
    api.repo_exists.return_value = False
    api.create_commit.return_value = mock.Mock(commit_url="https://huggingface.co/me/xemogpt-official/commit/1")
    publish_checkpoint(path, "me/xemogpt-official", api=api)
    assert [c[0] for c in api.mock_calls] == ["repo_exists", "create_repo", "create_commit"]
    sent = [op.path_in_repo for op in api.create_commit.call_args.kwargs["operations"]]
    assert {"README.md", "config.json", "generation_config.json", "conversion.json",
            "stage1_vecb/model.safetensors", "stage2_aecb/model.safetensors"} <= set(sent)
    assert not any(p.endswith((".bin", ".ckpt", ".pt")) for p in sent)


def test_the_xemogpt_parser_imports_no_model_code():
    """Building the `xemogpt` parser (every subcommand, convert-official included) must not import modeling_xemogpt:
    importing it registers the Auto classes, and then `AutoModel` would load checkpoints with this process's classes
    instead of their remote code."""
    import subprocess
    import sys

    code = ("import sys; from xemogpt_cli.main import build_parser; build_parser(); "
            "print('modeling_xemogpt' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr[-2000:]


def test_stage1_goes_on_from_the_converted_heads(converted, release, tmp_path):
    """The release's stage-1 heads convert too: stage 1 continues from `stage1_vecb/` (`init_from`) with the
    release's towers and its CLIP text tower as the caption encoder; a mismatched text encoder is one clear error."""
    from conftest import synthetic_split
    from training.config_utils import ConfigError
    from training.stage1_vecb import main as stage1

    synthetic_split(tmp_path, 10, 8, seed=5, workers=1)
    argv = ["--config", str(ROOT / "training" / "configs" / "stage1_tiny.yaml"), "--base_model",
            str(converted[True]), "--config_overrides", "{}", "--init_from", str(converted[True] / "stage1_vecb"),
            "--train_file", str(tmp_path / "train.jsonl"), "--eval_file", "null", "--cache_dir", str(tmp_path / "cache"),
            "--max_steps", "2", "--save_strategy", "no", "--disable_tqdm", "true", "--per_device_train_batch_size", "4"]
    figures = stage1([*argv, "--text_encoder", f"clip:{release.vision}", "--output_dir", str(tmp_path / "s1")])
    assert figures["global_step"] == 2
    with pytest.raises(ConfigError, match="does not fit this run .*vecb_text_embed_dim 24 there, 384 here"):
        stage1([*argv, "--text_encoder", "sentence-transformers:minilm-offline", "--output_dir", str(tmp_path / "s1b")])
