"""The three training stages on the tiny preset and synthetic EmoCue clips: a few real steps each, checkpoints,
end-of-run figures, stage-3 gradient blocking during a real trainer step, the merged remote-code checkpoint, and
kill -9 + resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import synthetic_split

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "training" / "configs"


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    """40 synthetic clips (multimodal / visual / audio), 30 for training and 10 held out."""
    d = tmp_path_factory.mktemp("syn")
    synthetic_split(d, 40, 30, seed=3, modality_mix=(0.6, 0.2, 0.2), workers=1)
    return d


def _common(syn, out, *extra, cache=True):
    cache_args = ["--cache_dir", str(syn / "cache")] if cache else []
    return ["--train_file", str(syn / "train.jsonl"), "--eval_file", str(syn / "test.jsonl"), *cache_args,
            "--output_dir", str(out), "--disable_tqdm", "true", *extra]


def _bridge_stage(syn, module, stage: int, steps: int, save_steps: int):
    """Run bridge stage ``stage`` (``module``: stage1_vecb / stage2_aecb) on ``syn``: (output folder, figures)."""
    out = syn / f"stage{stage}"
    figures = module.main(["--config", str(CFG / f"stage{stage}_tiny.yaml"), *_common(syn, out), "--max_steps",
                           str(steps), "--save_steps", str(save_steps), "--logging_steps", "1",
                           "--per_device_train_batch_size", "8"])
    return out, figures


@pytest.fixture(scope="module")
def stage1(syn):
    from training import stage1_vecb

    return _bridge_stage(syn, stage1_vecb, 1, steps=12, save_steps=4)


@pytest.fixture(scope="module")
def stage2(syn):
    from training import stage2_aecb

    return _bridge_stage(syn, stage2_aecb, 2, steps=6, save_steps=3)


def _check_stage_outputs(out: Path, figures: dict, steps: int, prefix: str):
    assert figures["global_step"] == steps
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    assert sorted(p.name for p in out.glob("checkpoint-*"))  # safetensors checkpoints every N steps
    for ckpt in out.glob("checkpoint-*"):
        assert (ckpt / "model.safetensors").exists() and (ckpt / "trainer_state.json").exists()
        assert not list(ckpt.glob("*.bin")) or {p.name for p in ckpt.glob("*.bin")} <= {"training_args.bin"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics[prefix + "r1"] >= 0 and metrics[prefix + "chance_r1"] > 0
    history = json.loads((out / "loss_history.json").read_text())
    assert [h["step"] for h in history] == list(range(1, steps + 1))
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in history)


def test_stage1_tiny(stage1):
    out, figures = stage1
    _check_stage_outputs(out, figures, 12, "heldout_video_to_text_")
    history = json.loads((out / "loss_history.json").read_text())
    assert {"loss_contrastive", "loss_temporal", "loss_mfm"} <= set(history[0])  # eq.7's three terms are logged
    from modeling_xemogpt.modeling_vecb import VECBForPretraining

    model = VECBForPretraining.from_pretrained(out)
    assert model.config.vecb_text_embed_dim == 384  # MiniLM
    assert model.config.vision_feature_select == "patch_mean"


def test_stage1_second_run_hits_the_cache(stage1, syn):
    from training.data.loaders import load_records
    from training.feature_cache import FeatureCache, file_key
    from training.frozen_encoders import FrozenMediaEncoders
    from training.stage_arguments import ModelArguments

    enc = FrozenMediaEncoders(ModelArguments(preset="tiny", config_overrides={"vision_feature_select": "patch_mean"}))
    cache = FeatureCache(syn / "cache", enc.video_encoder_name)
    videos = [r["video"] for r in load_records(syn / "train.jsonl") if r.get("video")]
    assert videos and cache.missing(file_key(v) for v in videos) == []
    assert enc._model is None  # a fully cached run never builds the frozen towers


def test_stage2_tiny(stage2):
    out, figures = stage2
    _check_stage_outputs(out, figures, 6, "heldout_audio_to_text_")
    from modeling_xemogpt.modeling_aecb import AECBForPretraining

    assert AECBForPretraining.from_pretrained(out).config.aecb_text_embed_dim == 384


def test_stage3_tiny_merged_checkpoint(stage1, stage2, syn):
    from training.stage3_sft import main

    out = syn / "stage3"
    # stage 3 reads the frozen features stages 1 and 2 cached (cache.dir: the same folder)
    figures = main(["--config", str(CFG / "stage3_tiny.yaml"), *_common(syn, out), "--max_steps", "4",
                    "--save_steps", "2", "--logging_steps", "1", "--per_device_train_batch_size", "8",
                    "--vecb", str(stage1[0]), "--aecb", str(stage2[0]),
                    "--bridge_learning_rate", "1e-4"])
    assert figures["global_step"] == 4
    # VECB and AECB train at bridge_learning_rate, everything else at learning_rate (same schedule)
    groups = torch.load(out / "checkpoint-2" / "optimizer.pt", weights_only=False)["param_groups"]
    lrs = {}
    for g in groups:  # transformers splits weight-decay / no-decay groups; each lr may have several
        lrs[round(g["initial_lr"], 10)] = lrs.get(round(g["initial_lr"], 10), 0) + len(g["params"])
    n_bridge = sum(1 for k in load_file(stage1[0] / "model.safetensors") if k.startswith("bridge.")) + \
        sum(1 for k in load_file(stage2[0] / "model.safetensors") if k.startswith("bridge."))
    assert lrs.get(1e-4) == n_bridge and set(lrs) == {1e-4, 5e-3}
    assert set(figures["train_modalities"]) == {"visual", "audio", "multimodal"}
    assert figures["trainable_parameters"]["lora"] > 0 and figures["trainable_parameters"]["aecb"] > 0
    assert "heldout_loss_before" in figures and "heldout_loss_after" in figures
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert (out / "checkpoint-2" / "adapter_model.safetensors").exists()
    history = json.loads((out / "loss_history.json").read_text())
    assert len(history) == 4 and "mean_token_accuracy" in history[0]
    from transformers import AutoModel, AutoProcessor

    merged = out / "merged"
    model = AutoModel.from_pretrained(merged, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(merged, trust_remote_code=True)
    assert type(model).__name__ == "XEmoGPTForConditionalGeneration"
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert model.config.vision_feature_select == "patch_mean"
    # the checkpoint's generation budget covers its longest training answer (xemogpt serve's default budget)
    answers = [json.loads(line)["description"] for line in (syn / "train.jsonl").read_text().splitlines()]
    longest = max(len(processor.tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers) + 1
    budget = model.generation_config.max_new_tokens
    assert longest < budget <= 1.25 * longest + 16 and budget % 16 == 0
    from xemogpt_cli.serve import generation_budget

    assert generation_budget(model) == budget and generation_budget(model, 40) == 40
    sample = json.loads((syn / "test.jsonl").read_text().splitlines()[0])
    video = str(syn / sample["video"]) if sample.get("video") else None
    audio = str(syn / sample["audio"]) if sample.get("audio") else (video if sample["modality"] == "multimodal" else None)
    messages = processor.build_messages(video=video, audio=audio, subtitle=sample["subtitle"])
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    out_ids = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert out_ids.shape[1] > inputs["input_ids"].shape[1]
    _check_stage3_card(merged, figures, syn, stage1[0], stage2[0])


def _check_stage3_card(merged: Path, figures: dict, syn: Path, vecb: Path, aecb: Path):
    """merged/README.md, read by huggingface_hub's parser: the stage-1/2/3 data with their counts and sources as
    given, the recipe, the held-out loss as the model-index, the tiny preset's licence and limits."""
    from huggingface_hub import ModelCard

    card = ModelCard.load(merged / "README.md")
    assert card.data.license == "apache-2.0" and card.data.library_name == "transformers"
    assert card.data.base_model is None  # the tiny preset's backbones are random, not Hub models
    (result,) = card.data.eval_results
    assert (result.metric_type, result.metric_value) == ("heldout_loss", figures["heldout_loss_after"])
    assert result.dataset_name == f"held-out set {syn / 'test.jsonl'}"
    clips = {n: json.loads((d / "metrics.json").read_text())["train_clips"] for n, d in (("1", vecb), ("2", aecb))}
    text = card.text
    assert f"| 1: VECB pre-training | training set | {clips['1']} |" in text
    assert f"| 2: AECB pre-training | training set | {clips['2']} |" in text
    mods = ", ".join(f"{k} {v}" for k, v in figures["train_modalities"].items() if v)
    assert f"| 3: instruction tuning | training set | 30 | {mods} | {syn / 'train.jsonl'} |" in text
    assert f"| VECB initialised from | `{vecb}` |" in text and "| VECB / AECB learning rate | 0.0001 |" in text
    assert "| optimizer steps | 4 |" in text and "r=64, alpha=128 on q_proj" in text
    assert "**tiny** demonstration checkpoint" in text
    assert f'AutoModel.from_pretrained("{merged}", trust_remote_code=True)' in text


@pytest.mark.parametrize("blocked", ["audio", "video"])
def test_stage3_gradient_blocking_in_a_real_step(stage1, stage2, syn, blocked):
    """Single-modality samples whose clips also feed the other modality (visual samples with their audio track,
    audio samples with their video): every optimizer step sees exactly zero gradient in the blocked branch (bridge +
    projection) while the other branch learns, and the blocked bridge ends bit-identical to its stage-1/2 weights."""
    from training.data.sample import sample_from_record
    from training.stage3_sft import main

    label = "visual" if blocked == "audio" else "audio"
    records = [json.loads(line) for line in open(syn / "train.jsonl")]
    relabelled = [{**r, "modality": label} for r in records if r["modality"] == "multimodal"]
    fed = [sample_from_record({**r, "video": str(syn / r["video"])}) for r in relabelled]
    assert fed and all(s.video and s.audio for s in fed)  # both modalities really go forward
    data = syn / f"{label}_with_both.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in relabelled))
    out = syn / f"stage3_blocking_{blocked}"
    main(["--config", str(CFG / "stage3_tiny.yaml"), "--train_file", str(data), "--eval_file", "null",
          "--output_dir", str(out), "--disable_tqdm", "true", "--max_steps", "2", "--save_strategy", "no",
          "--per_device_train_batch_size", "4", "--vecb", str(stage1[0]), "--aecb", str(stage2[0]),
          "--record_branch_grads", "true", "--feed_all_media", "true",
          "--cache_dir", "null"])  # re-encoding media every step (the cache-less path)
    rows = json.loads((out / "branch_grads.json").read_text())
    assert len(rows) == 2
    learner = "video" if blocked == "audio" else "audio"
    for row in rows:
        assert row[f"{blocked}_trainable_params"] > 0  # the blocked branch is trainable ...
        assert row[f"{blocked}_max_abs_grad"] == 0.0  # ... yet receives exactly zero gradient
        assert row[f"{learner}_max_abs_grad"] > 0.0
        assert row[f"{learner}_params_with_grad"] == row[f"{learner}_trainable_params"]
    from safetensors.torch import load_file

    merged = load_file(out / "merged" / "model.safetensors")
    prefix, stage_dir = ("aecb.", stage2[0]) if blocked == "audio" else ("vecb.", stage1[0])
    other_prefix, other_dir = ("vecb.", stage1[0]) if blocked == "audio" else ("aecb.", stage2[0])
    for k, v in load_file(stage_dir / "model.safetensors").items():
        if k.startswith("bridge."):
            assert torch.equal(merged[prefix + k[len("bridge."):]], v)
    assert any(not torch.equal(merged[other_prefix + k[len("bridge."):]], v)
               for k, v in load_file(other_dir / "model.safetensors").items() if k.startswith("bridge."))


def _kill_at_a_step(module: str, args: list[str], out: Path, step: int) -> int:
    """Run ``python -m module args`` (steps slowed by debug.sleep_per_step) and SIGKILL it once it has logged
    ``step``; returns the last step it logged."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    history = out / "loss_history.json"
    deadline = time.time() + 300
    logged = 0
    try:
        while logged < step:
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.time() < deadline, f"step {step} not reached after 300 s"
            time.sleep(0.05)
            if history.exists():
                logged = json.loads(history.read_text())[-1]["step"]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    return json.loads(history.read_text())[-1]["step"]


def _rerun_resumes(main, args, out, killed_at, last_saved, steps, reference, capsys):
    """The same command again: it resumes from the last checkpoint (and says so), ends at the same final step, and
    its loss history is continuous and equal to the uninterrupted run's."""
    assert not (out / "metrics.json").exists()  # it really died before the end
    saved = sorted(int(p.name.split("-")[1]) for p in out.glob("checkpoint-*"))
    assert saved[-1] == last_saved < killed_at < steps  # killed between two saves
    capsys.readouterr()
    figures = main(args)
    assert f"resuming from {out / f'checkpoint-{last_saved}'}" in capsys.readouterr().out
    assert figures["global_step"] == steps
    resumed = json.loads((out / "loss_history.json").read_text())
    assert [h["step"] for h in resumed] == list(range(1, steps + 1))
    got = [h["loss"] for h in resumed]
    assert got == pytest.approx([h["loss"] for h in reference], rel=1e-3, abs=1e-3)


def test_kill_at_a_random_step_and_rerun(stage1, syn, capsys):
    """Stage 1 SIGKILLed at a random step between two checkpoints, then the very same command run again."""
    import random

    out = syn / "resume"
    args = ["--config", str(CFG / "stage1_tiny.yaml"), *_common(syn, out), "--eval_file", "null", "--max_steps", "12",
            "--save_steps", "4", "--logging_steps", "1", "--per_device_train_batch_size", "8",
            "--sleep_per_step", "0.4"]
    target = random.choice([5, 6, 7])
    print(f"killing stage 1 after step {target}")
    killed_at = _kill_at_a_step("training.stage1_vecb", args, out, target)
    from training.stage1_vecb import main

    reference = json.loads((stage1[0] / "loss_history.json").read_text())  # same seed and data, not interrupted
    _rerun_resumes(main, args, out, killed_at, 4, 12, reference, capsys)
    # another configuration in that directory: a one-line error naming the difference and the way out
    from training.config_utils import ConfigError

    with pytest.raises(ConfigError, match=r"holds results of another configuration .*: learning_rate: "
                                          r"0.001 there, 0.002 now; rerun with --overwrite"):
        main([*args, "--learning_rate", "0.002"])
    figures = main([*args, "--learning_rate", "0.002", "--max_steps", "2", "--sleep_per_step", "0",
                    "--overwrite"])
    assert figures["global_step"] == 2
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-2"]  # the earlier run's 4, 8, 12 are gone
    assert [h["step"] for h in json.loads((out / "loss_history.json").read_text())] == [1, 2]


def test_stage3_kill_at_a_random_step_and_rerun(stage1, stage2, syn, capsys):
    import random

    from training.stage3_sft import main

    def args(out, sleep):
        return ["--config", str(CFG / "stage3_tiny.yaml"), *_common(syn, out), "--eval_file", "null",
                "--max_steps", "6", "--save_steps", "2", "--logging_steps", "1", "--per_device_train_batch_size", "8",
                "--vecb", str(stage1[0]), "--aecb", str(stage2[0]), "--save_merged", "false",
                "--sleep_per_step", str(sleep)]

    main(args(syn / "stage3_reference", 0))
    reference = json.loads((syn / "stage3_reference" / "loss_history.json").read_text())
    target = random.choice([3, 5])
    print(f"killing stage 3 after step {target}")
    out = syn / "stage3_resume"
    killed_at = _kill_at_a_step("training.stage3_sft", args(out, 1.0), out, target)
    _rerun_resumes(main, args(out, 1.0), out, killed_at, target - 1, 6, reference, capsys)


def _tiny_clip_text_encoder(path: Path) -> Path:
    """A random CLIPTextModelWithProjection + a locally trained BPE tokenizer, saved like a Hub checkpoint."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    corpus = ["a broad smile raised eyebrows nodding head", "a frown lowered brows shaking head still head",
              "mouth wide open knitted eyebrows flat closed mouth"]
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<unk>", "<eos>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>",
                                   model_max_length=77)
    fast.save_pretrained(path)
    config = CLIPTextConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=2, projection_dim=24, max_position_embeddings=77,
                            pad_token_id=0, eos_token_id=fast.eos_token_id)
    torch.manual_seed(0)
    CLIPTextModelWithProjection(config).save_pretrained(path)
    return path


def test_stage1_with_clip_text_encoder(syn, stage1):
    """The paper's stage-1 text side (`encoders.text: clip:<path>`) on a tiny random CLIP text tower."""
    from training.stage1_vecb import main

    enc = _tiny_clip_text_encoder(syn / "tiny_clip_text")
    out = syn / "stage1_clip_text"
    figures = main(["--config", str(CFG / "stage1_tiny.yaml"), *_common(syn, out), "--max_steps", "2",
                    "--save_strategy", "no", "--text_encoder", f"clip:{enc}"])
    assert figures["global_step"] == 2
    from modeling_xemogpt.modeling_vecb import VECBForPretraining

    assert VECBForPretraining.from_pretrained(out).config.vecb_text_embed_dim == 24  # CLIP projection_dim


def test_stage1_from_a_saved_base_model(syn, stage1):
    """`model.base_model`: the towers of a saved XEmoGPT checkpoint (what the demo does), with its own cache entries."""
    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from training.stage1_vecb import main

    base = syn / "base_model"
    torch.manual_seed(123)
    XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset(
        "tiny", vision_feature_select="patch_mean", text_config={"initializer_range": 0.1})).save_pretrained(base)
    out = syn / "stage1_base"
    figures = main(["--config", str(CFG / "stage1_tiny.yaml"), *_common(syn, out), "--eval_file", "null",
                    "--max_steps", "2", "--save_strategy", "no", "--base_model", str(base)])
    assert figures["global_step"] == 2
    assert len([p for p in (syn / "cache").iterdir() if p.name.startswith("video_base")]) == 1
