"""`evaluate.load("emocue360")` offline (repo root and, after install, any directory), both input forms, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

import pytest

from emocue360 import compute_emocue360
from emocue360.extractors import ExtractionError

REPO = Path(__file__).resolve().parents[2]
TEXT_P = [
    "In the video, the woman's mouth curves up into a smile and her eyebrows are raised; she nods her head. In the "
    "audio, her voice is high-pitched, speaking loudly and quickly. Taken together, these cues suggest she is happy.",
    "In the video, the man's brows are furrowed and his eyes look downward. In the audio, his voice is low and slow. "
    "Overall, he appears sad.",
]
TEXT_R = [
    "In the video, the woman smiles broadly and her eyebrows lift; she nods. In the audio, her voice is bright and "
    "loud, and she speaks fast. These cues suggest she is happy and excited.",
    "In the video, the man frowns and his gaze is lowered. In the audio, his voice is quiet and trembling. "
    "Overall, he appears sad and tired.",
]
CUES_P = [{"visual": ["smile", "raised eyebrows"], "audio": ["loud voice"], "global": ["happy"]},
          {"visual": ["furrowed brows"], "audio": [], "global": ["sad"]}]
CUES_R = [{"visual": ["smiling", "eyebrows lifted"], "auditory": ["loud, bright voice"], "emotional": ["happy"]},
          {"visual": ["frowning"], "audio": ["trembling voice"], "global": ["sad", "tired"]}]


@pytest.fixture(scope="module")
def metric():
    import evaluate

    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        return evaluate.load("emocue360")
    finally:
        os.chdir(cwd)


def test_metric_info_declares_both_input_forms(metric):
    feats = metric.features if isinstance(metric.features, list) else [metric.features]
    kinds = {(type(f["predictions"]).__name__, type(f["references"]).__name__) for f in feats}
    assert ("Value", "Value") in kinds and ("dict", "dict") in kinds
    assert "eq. 10" in metric.description or "precision" in metric.description.lower()
    assert "XEmoGPT" in metric.citation


def test_metric_free_text_matches_library(metric):
    r = metric.compute(predictions=TEXT_P, references=TEXT_R, include_text_metrics=True, return_per_sample=True)
    lib = compute_emocue360(TEXT_P, TEXT_R)
    for k, v in lib.items():
        assert r[k] == pytest.approx(v, abs=1e-6), k
    assert set(r) >= {"visual_precision", "visual_recall", "visual_f1", "audio_precision", "audio_recall",
                      "audio_f1", "global_precision", "global_recall", "global_f1", "mean", "bleu_1", "bleu_4",
                      "cider"}
    six = [r[f"{d}_{m}"] for d in ("visual", "audio", "global") for m in ("precision", "recall")]
    assert r["mean"] == pytest.approx(sum(six) / 6, abs=1e-9)
    assert all(0.0 <= x <= 1.0 for x in six)
    assert len(r["per_sample"]) == 2 and 0 < r["bleu_1"] < 1


def test_metric_cue_dicts_and_mixed_forms(metric):
    r = metric.compute(predictions=CUES_P, references=CUES_R)
    assert r["audio_support"] == 2 and r["audio_precision"] == pytest.approx(
        compute_emocue360(CUES_P, CUES_R)["audio_precision"], abs=1e-6)
    # sample 2 predicts no audio cue against one reference cue: its audio P/R are 0
    per = metric.compute(predictions=CUES_P, references=CUES_R, return_per_sample=True)["per_sample"]
    assert per[1]["audio_precision"] == 0.0 and per[0]["audio_precision"] > 0.5
    mixed = metric.compute(predictions=TEXT_P, references=CUES_R, return_cues=True)
    assert mixed["cues"]["predictions"][1]["global"] == ["sad"]
    same = metric.compute(predictions=CUES_R, references=CUES_R)
    assert same["mean"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("kwargs, message", [
    ({"predictions": TEXT_P, "references": TEXT_R[:1]}, "got 2 predictions but 1 references"),
    ({"predictions": None, "references": TEXT_R}, "predictions is None"),
    ({"predictions": [TEXT_P[0], None], "references": TEXT_R}, r"predictions\[1\] is None"),
    ({"predictions": [3, 4], "references": TEXT_R}, r"predictions\[0\] is a int"),
    ({"predictions": "one string", "references": TEXT_R}, "predictions must be a list"),
    ({"predictions": [{"smell": ["x"]}], "references": [CUES_R[0]]}, "unknown cue dimension 'smell'"),
    ({"predictions": [{"visual": "x", "audio": 5}], "references": [CUES_R[0]]}, "must be a list of strings"),
    ({"predictions": [], "references": []}, "empty"),
    ({"predictions": TEXT_P, "references": TEXT_R, "extractor": "gpt4"}, "unknown extractor 'gpt4'"),
    ({"predictions": TEXT_P, "references": TEXT_R, "preset": "paper"}, "unknown preset 'paper'"),
])
def test_bad_inputs_give_one_clear_error(metric, kwargs, message):
    with pytest.raises(ValueError, match=message) as e:
        metric.compute(**kwargs)
    assert "\n" not in str(e.value)


def test_unreachable_endpoint_is_one_error_through_the_metric(metric, tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(Exception, match=r"openai extractor failed on 4 of 4 texts .*unreachable after 2 attempts") \
            as e:
        metric.compute(predictions=TEXT_P, references=TEXT_R, extractor="openai", model="deepseek-chat",
                       base_url=f"http://127.0.0.1:{port}/v1", cache_dir=str(tmp_path), max_retries=1, timeout=2,
                       progress=False)
    assert "\n" not in str(e.value)
    assert type(e.value).__name__ == ExtractionError.__name__


def test_openai_extractor_through_the_metric_with_fake_server(metric, tmp_path):
    from emocue360.rules import extract_cues_rules
    from emocue360.testing import FakeChatServer

    def llm(body):  # plays an LLM that extracts like the rules, with the authors' key names
        c = extract_cues_rules(body["messages"][-1]["content"])
        return {"visual": c["visual"], "auditory": c["audio"], "emotional": c["global"]}

    with FakeChatServer(handler=llm) as srv:
        r = metric.compute(predictions=TEXT_P, references=TEXT_R, extractor="openai", model="deepseek-chat",
                           base_url=srv.base_url, cache_dir=str(tmp_path), template=2, progress=False)
        assert len(srv.requests) == 4 and srv.requests[0]["model"] == "deepseek-chat"
    rules = metric.compute(predictions=TEXT_P, references=TEXT_R)
    for k in ("visual_f1", "audio_f1", "global_f1", "mean"):
        assert r[k] == pytest.approx(rules[k], abs=1e-6)
    # the second run is served from the cache: no server at all
    again = metric.compute(predictions=TEXT_P, references=TEXT_R, extractor="openai", model="deepseek-chat",
                           base_url="http://127.0.0.1:9/v1", cache_dir=str(tmp_path), template=2, progress=False)
    assert again["mean"] == pytest.approx(r["mean"])


def test_add_batch_flow(metric):
    metric.add_batch(predictions=CUES_P[:1], references=CUES_R[:1])
    metric.add(prediction=CUES_P[1], reference=CUES_R[1])
    assert metric.compute()["mean"] == pytest.approx(metric.compute(predictions=CUES_P, references=CUES_R)["mean"])


def test_official_preset_drops_subtitle_cues(metric):
    p = [{"visual": ["smile"], "audio": ["Subtitle text: 'hello there'", "loud voice"], "global": ["happy"]}]
    r = [{"visual": ["smile"], "audio": ["loud voice"], "global": ["happy"]}]
    default = metric.compute(predictions=p, references=r)
    official = metric.compute(predictions=p, references=r, preset="official")
    assert official["audio_precision"] == pytest.approx(1.0, abs=1e-5)
    assert default["audio_precision"] < 0.9


def test_evaluate_load_from_any_directory_after_install(tmp_path):
    """`python -m emocue360.install` then `evaluate.load("emocue360")` from an empty directory, offline."""
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_EVALUATE_OFFLINE="1", HF_HUB_OFFLINE="1",
               PYTHONPATH=str(REPO))
    env.pop("HF_MODULES_CACHE", None)
    env.pop("PYTHONPATH")  # the metric must come from the module cache, not from the repository
    from emocue360.install import install

    # the same layout as `HF_HOME=... python -m emocue360.install` (evaluate's default under $HF_HOME/modules)
    installed = install(tmp_path / "hf" / "modules" / "evaluate_modules" / "metrics")
    assert install(tmp_path / "hf" / "modules" / "evaluate_modules" / "metrics") == installed  # idempotent
    assert installed.parent.parent.name == "evaluate-metric--emocue360" and len(installed.parent.name) == 64
    assert {"scoring.py", "extractors.py", "rules.py", "pipeline.py", "cache.py"} <= {
        p.name for p in installed.parent.iterdir()}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = ("import evaluate, json; m = evaluate.load('emocue360'); "
            "c = {'visual': ['smile'], 'audio': ['loud voice'], 'global': ['happy']}; "
            "print(json.dumps(m.compute(predictions=[c], references=[c], progress=False)))")
    run = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["mean"] == pytest.approx(1.0, abs=1e-5)
    assert "evaluate-metric--emocue360" in run.stderr  # evaluate says it used the cached copy
