"""The paper-size benchmark's CPU smoke variant (one layer per tower, the paper's vocabulary): it runs the same code
as on a GPU, LoRA sits where the model's lora_config() says, the stage-3 LM head is measured both ways (answer
positions only / all positions, each in a process of its own) and the figures come out as JSON."""

from __future__ import annotations

import json

import pytest

SMALL = ["--smoke", "--batch-size", "2", "--tokens", "200", "--audio-seconds", "2", "--answer-tokens", "16",
         "--steps", "1", "--new-tokens", "8", "--describe-batch", "2", "--repeats", "1"]


def test_smoke_run_measures_every_part(tmp_path):
    from benchmarks.bench_paper_size import SMOKE_OVERRIDES, build_model, main, parse_args

    out = tmp_path / "smoke.json"
    figures = main([*SMALL, "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(figures))
    assert figures["variant"].startswith("smoke") and figures["attention"]["language_model"] == "sdpa"
    # the paper's media shapes: 16 frames of 224 px; 2 s of 16 kHz audio -> 99 HuBERT frames, one token each
    assert figures["shapes"]["frames"] == [16, 3, 224, 224] and figures["shapes"]["audio_samples"] == 32000
    assert figures["shapes"]["audio_tokens"] == 99 and figures["shapes"]["tokens"] == 200

    # trainable = LoRA on q/k/v of the LLM (r x (in + out) per projection) + bridges + projections, nothing else
    import torch

    model = build_model(parse_args(SMALL), torch.device("cpu"), torch.float32, smoke=True)
    text = model.config.text_config
    r, hidden = SMOKE_OVERRIDES["lora_r"], text.hidden_size
    q_out, kv_out = text.num_attention_heads * text.head_dim, text.num_key_value_heads * text.head_dim
    lora = text.num_hidden_layers * r * ((hidden + q_out) + 2 * (hidden + kv_out))
    full = sum(p.numel() for name in ("vecb", "aecb", "video_projection", "audio_projection")
               for p in getattr(model, name).parameters())
    stage3 = figures["stage3"]
    assert stage3["trainable_parameters"] == lora + full
    assert stage3["lora_targets"] == ["q_proj", "k_proj", "v_proj"]
    for mode in ("checkpointing", "no_checkpointing"):
        assert stage3[mode]["step_time_s"] > 0 and stage3[mode]["tokens_per_s"] > 0
    # the paper's vocabulary; the LM head both ways, each in a process of its own, on the same first step
    assert figures["vocab_size"] == 151_936 and stage3["lm_head"] == "answer"
    head = figures["lm_head_comparison"]
    for way in ("answer", "all"):
        assert "error" not in head[way], head[way]
        assert head[way]["step_time_s"] > 0 and head[way]["process_peak_rss_gib"] > 0
    assert head["answer"]["first_step_loss"] == pytest.approx(stage3["first_step_loss"], abs=1e-5)
    assert head["first_step_loss_abs_diff"] < 1e-5
    assert head["process_peak_rss_ratio_answer_vs_all"] == pytest.approx(
        head["answer"]["process_peak_rss_gib"] / head["all"]["process_peak_rss_gib"])
    assert figures["generate"]["new_tokens"] == 8 and figures["generate"]["tokens_per_s"] > 0
    assert figures["describe"]["clips"] == 2 and figures["describe"]["clips_per_s"] > 0


def test_real_weights_need_all_three_towers(capsys):
    from benchmarks.bench_paper_size import main

    with pytest.raises(SystemExit) as exc:
        main(["--vision", "openai/clip-vit-large-patch14"])
    assert exc.value.code == 2
    assert "give all three of --vision, --audio and --text" in capsys.readouterr().err
