"""The inference pipeline every checkpoint carries (``processing_xemogpt.XEmoGPTPipeline``, task
``"video-emotion-explanation"``), used as a user would: ``transformers.pipeline(model=DIR, trust_remote_code=True)`` in
a fresh Python process that never imports this project, on real clips made by the fixtures — one clip, a batch with a
bad file, time windows, a JSON checkpoint's parsed cues — and the same answers as ``xemogpt describe``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from xemogpt_cli.main import main

pytestmark = pytest.mark.usefixtures("torch_single_thread")

PROJECT_MODULES = ("modeling_xemogpt", "processing_xemogpt", "training", "xemogpt_cli", "emocue360", "llm_client")


def fresh(tmp_path, model_dir, body: str, *args) -> object:
    """Run ``body`` after ``pipe = pipeline(model=model_dir, trust_remote_code=True, device="cpu")`` in a new process
    without this project on its path (``sys.argv[2:]``: ``args``); ``body`` sets ``out``, which is returned (as JSON).
    The process fails if any module of this project was imported: everything comes from the checkpoint's remote
    code."""
    script = textwrap.dedent(
        """
        import json, sys
        import torch
        torch.set_num_threads(1)
        from transformers import pipeline
        pipe = pipeline(model=sys.argv[1], trust_remote_code=True, device="cpu")
        {body}
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in {project})
        assert not leaked, leaked
        print("RESULT " + json.dumps({{"out": out, "class": type(pipe).__module__ + "." + type(pipe).__name__}}))
        """
    ).format(body=textwrap.dedent(body).strip(), project=PROJECT_MODULES)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HOME=str(tmp_path / "hf_home"))
    result = subprocess.run([sys.executable, "-c", script, str(model_dir), *map(str, args)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    data = json.loads(line.removeprefix("RESULT "))
    assert data["class"].startswith("transformers_modules.") and data["class"].endswith(".XEmoGPTPipeline")
    return data["out"]


def describe_json(capsys, *argv) -> list[dict]:
    assert main(["describe", *map(str, argv), "--json", "--no-progress"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_checkpoint_names_its_pipeline(ckpt, tmp_path):
    """Model + processor saved: the config names the pipeline, its code lies beside the rest; a pipeline built in
    this process saves the same checkpoint."""
    from transformers import pipeline

    from modeling_xemogpt import XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor

    config = json.loads((ckpt / "config.json").read_text())
    assert config["custom_pipelines"] == {"video-emotion-explanation": {
        "impl": "pipeline_xemogpt.XEmoGPTPipeline", "pt": ["AutoModel"], "type": "multimodal"}}
    for name in ("pipeline_xemogpt.py", "answer.py", "probe.py", "vocabulary.py"):
        assert (ckpt / name).is_file(), name
    model, processor = XEmoGPTForConditionalGeneration.from_pretrained(ckpt), XEmoGPTProcessor.from_pretrained(ckpt)
    pipe = pipeline("video-emotion-explanation", model=model, processor=processor, device="cpu")  # registered here
    assert type(pipe).__module__ == "processing_xemogpt.pipeline_xemogpt"
    pipe.save_pretrained(tmp_path / "again")
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == sorted(p.name for p in ckpt.iterdir())
    assert json.loads((tmp_path / "again" / "config.json").read_text())["custom_pipelines"] == config["custom_pipelines"]


def test_one_clip_a_batch_with_a_bad_file_and_errors(ckpt, tmp_path, mp4_with_audio, mp4_no_audio, wav_file,
                                                     not_media_file):
    out = fresh(tmp_path, ckpt, """
        clip, no_audio, wav, bad = sys.argv[2:6]
        one = pipe(clip, subtitle="I did not expect that.", max_new_tokens=8)
        batch = pipe([clip, bad, no_audio, wav], batch_size=3, max_new_tokens=8)
        visual = pipe(clip, modality="visual", max_new_tokens=8)
        errors = []
        for call in (lambda: pipe(bad), lambda: pipe(wav, modality="visual"), lambda: pipe(clip, stride=2)):
            try:
                call()
            except ValueError as exc:
                errors.append(str(exc))
        out = {"one": one, "batch": batch, "visual": visual, "errors": errors}
        """, mp4_with_audio, mp4_no_audio, wav_file, not_media_file)
    one = out["one"]
    assert one["modality"] == "multimodal" and one["video"] == one["audio"] == str(mp4_with_audio)
    assert one["subtitle"] == "I did not expect that." and one["error"] is None and one["answer_format"] == "text"
    assert isinstance(one["explanation"], str) and one["explanation"] and one["cues"] is None
    assert (one["start"], one["end"]) == (None, None)
    batch = out["batch"]
    assert [r["clip"] for r in batch] == [str(p) for p in (mp4_with_audio, not_media_file, mp4_no_audio, wav_file)]
    assert [r["modality"] for r in batch] == ["multimodal", None, "visual", "audio"]
    assert batch[1]["explanation"] is None and "not a readable media file" in batch[1]["error"]
    assert str(not_media_file) in batch[1]["error"] and "\n" not in batch[1]["error"]
    assert all(r["error"] is None and r["explanation"] for r in batch[:1] + batch[2:])
    assert out["visual"]["modality"] == "visual" and out["visual"]["audio"] is None
    bad, no_video, stride = out["errors"]
    assert str(not_media_file) in bad and "not a readable media file" in bad
    assert str(wav_file) in no_video and "no video stream" in no_video
    assert "stride needs segment" in stride


def test_time_windows(ckpt, tmp_path, long_mp4):
    out = fresh(tmp_path, ckpt, """
        out = pipe(sys.argv[2], segment=20, stride=15, max_new_tokens=6)
        """, long_mp4)
    assert [(r["start"], r["end"]) for r in out] == [(0.0, 20.0), (15.0, 35.0), (30.0, 50.0), (45.0, 60.0)]
    assert all(r["error"] is None and r["clip"] == str(long_mp4) and r["explanation"] for r in out)
    assert len({r["explanation"] for r in out}) > 1  # each window is described from its own frames and audio


def test_json_checkpoint_gives_its_cues(json_ckpt, tmp_path, mp4_with_audio):
    """The JSON checkpoint's answer read back by the remote code: the generation is forced to a known JSON answer
    (a logits processor), then to an invalid one."""
    answer = {"visual": ["a frown", " "], "audio": ["a trembling voice"], "global": ["dim room"], "emotion": " sad ",
              "explanation": "The face frowns and the voice trembles, so the person is sad."}
    out = fresh(tmp_path, json_ckpt, """
        from transformers import LogitsProcessor, LogitsProcessorList

        class Force(LogitsProcessor):
            def __init__(self, ids, end):
                self.ids, self.end, self.start = ids, end, None
            def __call__(self, input_ids, scores):
                self.start = input_ids.shape[1] if self.start is None else self.start
                k = input_ids.shape[1] - self.start
                forced = torch.full_like(scores, -float("inf"))
                forced[:, self.ids[k] if k < len(self.ids) else self.end] = 0
                return forced

        def forced(text):
            ids = pipe.processor.tokenizer(text, add_special_tokens=False)["input_ids"]
            end = pipe.model.generation_config.eos_token_id
            end = end[0] if isinstance(end, list) else end
            return {"logits_processor": LogitsProcessorList([Force(ids, end)])}

        good = pipe(sys.argv[2], max_new_tokens=200, generate_kwargs=forced(sys.argv[3]))
        cut = pipe(sys.argv[2], max_new_tokens=5, generate_kwargs=forced(sys.argv[3]))
        out = {"good": good, "cut": cut}
        """, mp4_with_audio, json.dumps(answer))
    good = out["good"]
    assert good["answer_format"] == "json" and good["error"] is None and not good["invalid_json"]
    assert good["cues"] == {"visual": ["a frown"], "audio": ["a trembling voice"], "global": ["dim room"]}
    assert good["emotion"] == "sad" and good["explanation"] == answer["explanation"]
    assert json.loads(good["raw"]) == answer and good["truncated"] is False
    cut = out["cut"]
    assert cut["invalid_json"] and cut["cues"] is None and cut["truncated"] and cut["explanation"] == cut["raw"]
    assert "cut off at the generation limit" in cut["json_error"]


def test_pipeline_answers_equal_xemogpt_describe(ckpt, tmp_path, mp4_with_audio, long_mp4, capsys):
    out = fresh(tmp_path, ckpt, """
        clip, long_clip = sys.argv[2:4]
        out = {"clip": pipe(clip, subtitle="Hello.", max_new_tokens=10),
               "windows": pipe(long_clip, segment=30, max_new_tokens=10),
               "batch": pipe([clip, long_clip], batch_size=2, max_new_tokens=10)}
        """, mp4_with_audio, long_mp4)
    (cli,) = describe_json(capsys, mp4_with_audio, "--model", ckpt, "--subtitle", "Hello.", "--max-new-tokens", "10")
    assert cli["explanation"] == out["clip"]["explanation"] and cli["modality"] == out["clip"]["modality"]
    assert cli["truncated"] == out["clip"]["truncated"]
    windows = describe_json(capsys, long_mp4, "--model", ckpt, "--segment", "30", "--max-new-tokens", "10")
    assert [(r["start"], r["end"], r["explanation"]) for r in windows] == [
        (r["start"], r["end"], r["explanation"]) for r in out["windows"]]
    assert out["batch"][0]["explanation"] == describe_json(capsys, mp4_with_audio, "--model", ckpt,
                                                           "--max-new-tokens", "10")[0]["explanation"]
