"""Stage 4 (GRPO on TRL with cue-level rewards): the rewards on real EmoCue records, the per-row media through TRL's
batch shuffling, the log-probabilities of the completions with the media, and the tiny stage 4 running real steps from
a stage-3 checkpoint (rewards moving, KL from zero, merged checkpoint, resume, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import synthetic_split

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "training" / "configs"
pytestmark = pytest.mark.timeout(900)


# ------------------------------------------------------------------------------------------------------ rewards
@pytest.fixture(scope="module")
def records(tmp_path_factory):
    d = tmp_path_factory.mktemp("syn4")
    return d, synthetic_split(d, 28, 24, seed=7, modality_mix=(0.5, 0.25, 0.25), workers=1)


def _columns(rows):
    return {"cues": [r["cues"] for r in rows], "description": [r["description"] for r in rows],
            "emotion": [r["emotion"] for r in rows]}


def test_cue_rewards_on_real_records(records):
    """The reference explanation scores F1 = 1 in every dimension it has (None where the record has no cue), another
    clip's explanation scores lower, and a JSON answer is scored with its own cue lists against the record's."""
    from training.data.sample import answer_text
    from training.rewards import cue_f1_audio, cue_f1_global, cue_f1_visual, emotion_match

    _, rows = records
    cols = _columns(rows)
    own = [r["description"] for r in rows]
    for reward, dim in ((cue_f1_visual, "visual"), (cue_f1_audio, "audio"), (cue_f1_global, "global")):
        scores = reward(own, **cols)
        for r, s in zip(rows, scores):
            if r["modality"] == "visual" and dim == "audio" or r["modality"] == "audio" and dim == "visual":
                assert s is None
            else:
                assert s == pytest.approx(1.0, abs=1e-5)
    other = own[1:] + own[:1]
    shuffled = [s for s in cue_f1_visual(other, **cols) if s is not None]
    assert shuffled and sum(shuffled) / len(shuffled) < 0.8
    as_json = [answer_text(r, "json") for r in rows]
    assert all(s is None or s == pytest.approx(1.0, abs=1e-5) for s in cue_f1_global(as_json, **cols))
    assert emotion_match(own, **cols) == [1.0] * len(rows)
    assert emotion_match(as_json, **cols) == [1.0] * len(rows)
    wrong = [d.replace(r["emotion"], "sad" if r["emotion"] != "sad" else "happy") for d, r in zip(own, rows)]
    assert emotion_match(wrong, **cols) == [0.0] * len(rows)


def test_format_length_reward():
    from training.rewards import format_length

    text = "The video shows a broad smile and raised eyebrows. The scene is warm. So the person appears happy."
    loop = "the person the person the person the person the person the person the person the person"
    kw = {"eos_token_ids": (2,), "min_words": 8, "max_words": 40}
    ended, truncated, looped, empty = format_length([text, text, loop, ""], [[5, 2], [5, 5], [5, 2], [2]], **kw)
    assert ended == 1.0 and truncated < ended and looped < ended and empty == 0.0
    short, = format_length(["happy"], [[5, 2]], **kw)
    assert short < ended
    parsed, not_json = format_length(['{"visual": ["smile"], "emotion": "happy"}', text], answer_format="json")
    assert parsed > not_json


def test_unknown_reward_is_refused():
    from training.rewards import build_reward_functions

    with pytest.raises(ValueError, match="unknown reward"):
        build_reward_functions({"cue_f1": 1.0})
    funcs, weights = build_reward_functions({"emotion_match": 2.0, "format_length": None})
    assert len(funcs) == 1 and weights == [2.0]


# ------------------------------------------------------------------------------------------------- rollout media
def test_rollout_media_survive_shuffling_and_splitting():
    """Rows with and without video / audio: TRL's shuffle + split of the batch dict, then back to the model's inputs
    for a slice, equal the model inputs built for those rows directly."""
    from trl.trainer.utils import shuffle_sequence_dict, split_tensor_dict

    from training import rollout_media

    has_video = [True, False, True, True, False, True]
    audio_len = [5, 3, 0, 7, 2, 0]
    videos = {i: torch.randn(4, 3) for i, v in enumerate(has_video) if v}
    audios = {i: torch.randn(n, 2) for i, n in enumerate(audio_len) if n}

    def direct(rows):
        out = {"modality": torch.tensor([i % 3 for i in rows])}
        vids = [videos[i] for i in rows if i in videos]
        if vids:
            out["video_frame_features"] = torch.stack(vids)
        auds = [audios[i] for i in rows if i in audios]
        if auds:
            length = max(len(a) for a in auds)
            out["audio_frame_features"] = torch.stack([torch.cat([a, a.new_zeros(length - len(a), 2)]) for a in auds])
            out["audio_frame_mask"] = torch.stack([torch.arange(length) < len(a) for a in auds]).long()
        return out

    media = direct(range(6))
    media.pop("modality")
    rows = rollout_media.to_rows(media, has_video, [n > 0 for n in audio_len], [i % 3 for i in range(6)])
    batch = {**rows, "row": torch.arange(6), "num_items_in_batch": torch.tensor(9)}
    torch.manual_seed(0)
    for part in split_tensor_dict(shuffle_sequence_dict(batch), 2):
        order = part["row"].tolist()
        got, want = rollout_media.model_inputs(rollout_media.select(part)), direct(order)
        assert got.keys() == want.keys()
        for key in want:
            assert torch.equal(got[key], want[key]), key


# --------------------------------------------------------------------------------------------------- stage 4 runs
@pytest.fixture(scope="module")
def stage3_model(records):
    """A stage-3 checkpoint: the tiny base saved with its processor, stage 3 trained briefly on the clips (bridges
    random: only stage 4's mechanics matter here). The base is the tiny recipe as it was before its AECB segment
    context (#23): the 8-step reward rise below was measured from this starting model, and stage 4's own mechanics,
    not the stage-1-3 recipe, are under test."""
    import torch

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor
    from training.stage3_sft import main

    d, _ = records
    base = d / "untrained"
    overrides = {"vision_feature_select": "patch_mean", "text_config": {"initializer_range": 0.1}}
    torch.manual_seed(0)
    XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny", **overrides)).save_pretrained(base)
    XEmoGPTProcessor.from_preset("tiny").save_pretrained(base)
    out = d / "stage3"
    main(["--config", str(CFG / "stage3_tiny.yaml"), "--base_model", str(base),
          "--config_overrides", "{vision_feature_select: patch_mean, text_config: {initializer_range: 0.1}}",
          "--train_file",
          str(d / "train.jsonl"), "--eval_file", "null", "--cache_dir", str(d / "cache"), "--output_dir", str(out),
          "--vecb", "null", "--aecb", "null",
          "--bridge_learning_rate", "null", "--max_steps", "30",
          "--save_strategy", "no", "--disable_tqdm", "true", "--logging_steps", "10"])
    return out / "merged"


def _stage4_argv(d: Path, model: Path, out: Path, *extra) -> list[str]:
    return ["--config", str(CFG / "stage4_tiny.yaml"), "--base_model", str(model), "--train_file",
            str(d / "train.jsonl"), "--eval_file", "null", "--cache_dir", str(d / "cache"), "--output_dir", str(out),
            "--disable_tqdm", "true", "--logging_steps", "1", "--max_completion_length", "24",
            "--per_device_train_batch_size", "8", *extra]


def test_completion_logps_come_from_the_model_with_its_media(records, stage3_model):
    """The trainer's per-token log-probabilities of a sampled group equal XEmoGPT's own forward on the full
    sequence (log-softmax of the logits at TRL's temperature), with the LM head run on the real completion tokens
    only; without the clips' media they differ."""
    from training import rollout_media
    from training.config_utils import parse_config
    from training.runtime import rank_info
    from training.stage4_config import Stage4Config
    from training.stage4_grpo import build_trainer

    d, _ = records
    cfg = parse_config(Stage4Config, _stage4_argv(d, stage3_model, d / "logps", "--max_steps", "1",
                                                   "--temperature", "0.7"))
    state, rank, world = rank_info()
    trainer, _, _ = build_trainer(cfg, state, rank, world)
    rows = [trainer.train_dataset[i] for i in range(4) for _ in range(2)]
    batch = trainer._generate_and_score_completions(rows)
    ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], 1)
    mask = torch.cat([batch["prompt_mask"], batch["completion_mask"]], 1)
    n = batch["completion_ids"].size(1)
    trainer._rows_media = rollout_media.select(batch)
    model = trainer.model.eval()
    rows_seen = []
    head = model.get_output_embeddings().register_forward_hook(lambda m, a, out: rows_seen.append(a[0].shape[:-1]))
    with torch.no_grad():
        logps, entropy, _ = trainer._get_per_token_logps_and_entropies(model, ids, mask, n, batch_size=3,
                                                                         compute_entropy=True)
    head.remove()
    # the LM head ran on the positions that predict a real completion token only (batches of 3, 3 and 2 rows)
    per_row = batch["completion_mask"].sum(1).tolist()
    assert rows_seen == [torch.Size([sum(per_row[i:i + 3])]) for i in (0, 3, 6)]
    with torch.no_grad():
        media = rollout_media.model_inputs(trainer._rows_media)
        logits = model(input_ids=ids, attention_mask=mask, **media).logits[:, -n - 1 : -1] / 0.7
        want = torch.log_softmax(logits, -1).gather(-1, ids[:, -n:, None])[..., 0] * batch["completion_mask"]
        blank = {k: torch.zeros_like(v) if v.is_floating_point() else v for k, v in media.items()}
        blind = model(input_ids=ids, attention_mask=mask, **blank).logits[:, -n - 1 : -1] / 0.7
    assert torch.allclose(logps, want, atol=1e-5)
    assert entropy.shape == logps.shape and bool((entropy[batch["completion_mask"].bool()] > 0).all())
    assert media["video_frame_features"].shape[0] == sum(r["video"] is not None for r in rows)
    assert not torch.allclose(blind, logits, atol=1e-3)  # the clips' features do reach the log-probabilities


def test_stage4_tiny_runs_real_steps_and_its_rewards_move(records, stage3_model):
    """Stage 4 from the stage-3 checkpoint: real GRPO steps (KL exactly 0 at the first step, as the reference is the
    stage-3 model, then positive), every reward logged on its own, a merged remote-code checkpoint that differs from
    stage 3; with the format/length reward alone asking for short answers, the policy's reward rises and its
    completions shorten."""
    from training.stage4_grpo import main

    d, _ = records
    out = d / "stage4"
    figures = main(_stage4_argv(d, stage3_model, out, "--max_steps", "8", "--learning_rate", "3e-3",
                                "--min_words", "1", "--max_words", "4", "--rewards",
                                '{"cue_f1_visual": 0, "cue_f1_audio": 0, "cue_f1_global": 0, "emotion_match": 0, '
                                '"format_length": 1.0}', "--save_steps", "4"))
    assert figures["global_step"] == 8
    history = json.loads((out / "loss_history.json").read_text())
    assert [h["step"] for h in history] == list(range(1, 9))
    assert history[0]["kl"] == 0.0 and history[-1]["kl"] > 0
    for name in ("cue_f1_visual", "cue_f1_audio", "cue_f1_global", "emotion_match", "format_length"):
        assert any(f"rewards/{name}/mean" in h for h in history), name  # None (skipped) when no row has the cues
    first, last = history[:3], history[-3:]
    mean = lambda rows, key: sum(h[key] for h in rows) / len(rows)  # noqa: E731
    assert mean(last, "rewards/format_length/mean") > mean(first, "rewards/format_length/mean") + 0.05
    assert mean(last, "completions/mean_length") < mean(first, "completions/mean_length")
    assert (out / "checkpoint-4" / "adapter_model.safetensors").exists()
    from safetensors.torch import load_file
    from transformers import AutoModel

    model = AutoModel.from_pretrained(out / "merged", trust_remote_code=True)
    assert type(model).__name__ == "XEmoGPTForConditionalGeneration"
    assert not any("lora" in n for n, _ in model.named_parameters())
    before, after = load_file(stage3_model / "model.safetensors"), load_file(out / "merged" / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("language_model."))
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith(("vision_tower.", "audio_tower.")))


def test_stage4_resumes_from_a_checkpoint(records, stage3_model):
    """A run stopped after its step-2 checkpoint and resumed with ``auto`` ends at the same step with the same rewards
    as the uninterrupted run (same seed: the sampling RNG is restored from the checkpoint)."""
    import shutil

    from training.stage4_grpo import main

    d, _ = records
    args = ["--max_steps", "4", "--save_steps", "2", "--learning_rate", "1e-3"]
    full = d / "resume_full"
    main(_stage4_argv(d, stage3_model, full, *args))
    cut = d / "resume_cut"
    shutil.copytree(full / "checkpoint-2", cut / "checkpoint-2")
    figures = main(_stage4_argv(d, stage3_model, cut, *args, "--resume_from_checkpoint", "auto"))
    assert figures["global_step"] == 4
    want = json.loads((full / "loss_history.json").read_text())
    got = json.loads((cut / "loss_history.json").read_text())
    assert [h["step"] for h in got] == [1, 2, 3, 4]
    for a, b in zip(want[2:], got[2:]):
        assert a["completions/mean_length"] == b["completions/mean_length"]
        assert a["reward"] == pytest.approx(b["reward"], abs=1e-4)


def test_stage4_decoding_media_and_heldout_rewards(records, stage3_model):
    """Without the feature cache (pixels and waveforms decoded by the processor, encoded by the frozen towers at
    every forward) a step runs with the same guarantees (KL 0 at the first step), and ``eval.reward_before_after``
    scores the held-out prompts with TRL's evaluation before and after training."""
    from training.stage4_grpo import main

    d, _ = records
    out = d / "stage4_nocache"
    argv = _stage4_argv(d, stage3_model, out, "--max_steps", "1", "--save_strategy", "no", "--cache_dir", "null",
                        "--eval_file", str(d / "test.jsonl"), "--reward_before_after", "true",
                        "--per_device_eval_batch_size", "4")
    figures = main(argv)
    assert figures["global_step"] == 1
    history = json.loads((out / "loss_history.json").read_text())
    assert history[0]["kl"] == 0.0
    for when in ("heldout_before", "heldout_after"):
        assert "reward" in figures[when] and "rewards/format_length/mean" in figures[when], figures[when]
    # merged/README.md: the held-out rewards as its model-index, the stage-3 run it started from in its data
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "merged" / "README.md")
    after = figures["heldout_after"]
    want = {"reward": after["reward"], **{f"reward_{k.split('/')[1]}": v for k, v in after.items()
                                          if k.startswith("rewards/") and k.endswith("/mean")}}
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == want
    assert {r.dataset_name for r in card.data.eval_results} == {f"held-out set {d / 'test.jsonl'}"}
    stage3 = json.loads((stage3_model.parent / "metrics.json").read_text())
    assert f"| 3: instruction tuning | training set | {stage3['train_samples']} |" in card.text
    assert f"| 4: GRPO, cue-level rewards | training set | {figures['train_prompts']} |" in card.text
    assert f"| initialised from | `{stage3_model}` |" in card.text and "| generations per prompt |" in card.text


@pytest.mark.parametrize("extra, message", [
    (["--base_model", "null"], "base_model is not set"),
    (["--use_vllm", "true"], "use_vllm is not supported"),
    (["--use_transformers_continuous_batching", "true"], "not supported"),
    (["--reward_weights", "1.0"], "not reward_weights"),
    (["--rewards", '{"cue_f1_visual": null, "cue_f1_audio": null, "cue_f1_global": null, "emotion_match": null, '
      '"format_length": null}'], "no reward has a weight"),
    (["--rewards", '{"cue_f1_vision": 1}'], "unknown reward 'cue_f1_vision'"),
])
def test_user_mistakes_are_one_line_errors(records, stage3_model, extra, message):
    from training.config_utils import ConfigError
    from training.stage4_grpo import main

    d, _ = records
    with pytest.raises(ConfigError, match=message) as info:
        main(_stage4_argv(d, stage3_model, d / "bad", *extra))
    assert "\n" not in str(info.value)


def test_stage4_two_cpu_processes(records, stage3_model, tmp_path):
    """`accelerate launch` with 2 CPU processes (DDP over gloo): each rank samples its share of the groups, rewards
    are gathered for the group advantages, and both ranks end with the same weights."""
    import os
    import subprocess
    import sys

    d, _ = records
    out = tmp_path / "ddp"
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate), "launch", "--config_file", str(CFG / "accelerate" / "cpu_2proc.yaml"), "--num_processes",
           "2", "--main_process_port", "29531", str(ROOT / "training" / "stage4_grpo.py"),
           *_stage4_argv(d, stage3_model, out, "--max_steps", "2", "--per_device_train_batch_size", "4",
                         "--save_steps", "2", "--weights_fingerprint", "true")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": str(ROOT)}
    env.pop("ACCELERATE_USE_CPU", None)
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    fp0, fp1 = ((out / f"weights_fingerprint_rank{r}.txt").read_text().strip() for r in (0, 1))
    assert fp0 == fp1 and len(fp0) == 64
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["global_step"] == 2
    history = json.loads((out / "loss_history.json").read_text())
    assert history[0]["kl"] == 0.0 and "rewards/format_length/mean" in history[0]
    assert (out / "merged" / "model.safetensors").is_file()


# ------------------------------------------------------------------------------------------- label-only records
def _label_only_file(d: Path, name: str, **change) -> Path:
    """The training clips as label-only records (emotion kept; description, short caption and cues dropped)."""
    from training.data.synthetic import drop_description

    rows = [dict(drop_description(json.loads(line)), **change) for line in open(d / "train.jsonl")]
    path = d / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_stage4_trains_on_label_only_records(records, stage3_model):
    """Records with an emotion label and no description or cues are stage-4 prompts: the emotion reward scores
    every completion against the label, the cue rewards have no reference there (not applicable, left out of the
    sum), the format/length reward applies; training on them moves the rewards and the weights."""
    import math

    from training.stage4_grpo import main

    d, _ = records
    train = _label_only_file(d, "labels.jsonl")
    out = d / "stage4_labels"
    figures = main(_stage4_argv(d, stage3_model, out, "--train_file", str(train), "--max_steps", "8",
                                "--learning_rate", "3e-3", "--min_words", "1", "--max_words", "4",
                                "--save_strategy", "no"))
    assert figures["train_label_only"] == figures["train_prompts"] == 24 and figures["global_step"] == 8
    history = json.loads((out / "loss_history.json").read_text())
    assert all(isinstance(h["rewards/emotion_match/mean"], float) for h in history)
    for name in ("cue_f1_visual", "cue_f1_audio", "cue_f1_global"):  # no reference cue in any row
        assert all(math.isnan(h.get(f"rewards/{name}/mean", float("nan"))) for h in history), name
    first, last = history[:3], history[-3:]
    mean = lambda rows, key: sum(h[key] for h in rows) / len(rows)  # noqa: E731
    assert mean(last, "reward") > mean(first, "reward") + 0.05
    assert mean(last, "rewards/format_length/mean") > mean(first, "rewards/format_length/mean")
    from safetensors.torch import load_file

    before, after = load_file(stage3_model / "model.safetensors"), load_file(out / "merged" / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("language_model."))


def test_stage4_bad_label_names_the_record(records, stage3_model):
    from training.config_utils import ConfigError
    from training.stage4_grpo import main

    d, rows = records
    train = _label_only_file(d, "bad_labels.jsonl", emotion="hapy")
    with pytest.raises(ConfigError) as info:
        main(_stage4_argv(d, stage3_model, d / "bad_labels", "--train_file", str(train)))
    assert str(info.value) == (f"training set {str(train)!r}: record {rows[0]['id']!r}: unknown emotion label 'hapy' "
                               "(known classes: angry, anxious, calm, contemptuous, disappointed, disgusted, fearful, "
                               "happy, helpless, neutral, sad, surprised, worried; their noun forms and synonyms are "
                               "accepted)")
    with pytest.raises(ConfigError, match=r"has no counterpart in the synthetic label set"):
        main(_stage4_argv(d, stage3_model, d / "bad_labels", "--train_file", str(_label_only_file(
            d, "fear.jsonl", emotion="fear")), "--label_set", "synthetic"))
