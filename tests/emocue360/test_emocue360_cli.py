"""`xemogpt eval PREDICTIONS REFERENCES`: Table II row, --json, id matching errors, per-sample output."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

import pytest

from emocue360.report import COLUMNS
from xemogpt_cli.main import main

REF = {
    "a": "In the video, the woman smiles and her eyebrows are raised. In the audio, her voice is loud and cheerful. "
         "These cues suggest she is happy.",
    "b": "In the video, the man frowns and his eyes look down. In the audio, his voice is low and slow. "
         "Overall, he seems sad.",
}
PRED = {
    "a": "In the video, the woman grins and she raises her eyebrows. In the audio, her voice is loud. "
         "These cues suggest she is happy.",
    "b": "In the video, the man frowns. In the audio, he speaks quietly. Overall, he seems tired.",
}


def write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return str(path)


@pytest.fixture
def files(tmp_path):
    # predictions in another order than the references: matched by id
    p = write(tmp_path / "preds.jsonl", [{"id": k, "description": v} for k, v in reversed(PRED.items())])
    r = write(tmp_path / "refs.jsonl", [{"id": k, "text": v} for k, v in REF.items()])
    return p, r


def test_eval_prints_table_ii_row(files, capsys):
    assert main(["eval", *files, "--name", "tiny"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header = [c.strip() for c in lines[0].split("|")[1:-1]]
    assert header == ["Model"] + [h for h, _, _ in COLUMNS]
    row = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert row[0] == "tiny" and len(row) == 11
    values = [float(x) for x in row[1:]]
    assert 0 < values[0] < 1                    # BLEU-1
    assert all(0 < v <= 100 for v in values[3:])  # EmoCue-360 in percent


def test_eval_json_matches_library(files, capsys):
    from emocue360.report import score_all

    assert main(["eval", *files, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lib = score_all([PRED["a"], PRED["b"]], [REF["a"], REF["b"]])
    for k in ("bleu_1", "bleu_4", "cider", "visual_precision", "audio_recall", "global_f1", "mean"):
        assert out[k] == pytest.approx(lib[k], abs=1e-9), k
    assert out["num_samples"] == 2


def test_eval_missing_ids_is_one_clear_error(tmp_path, files, capsys):
    p = write(tmp_path / "few.jsonl", [{"id": "a", "description": PRED["a"]}, {"id": "zz", "description": "x"}])
    assert main(["eval", p, files[1]]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "1 reference id(s) have no prediction" in err and ": b" in err and "zz" in err


@pytest.mark.parametrize("content, message", [
    ('{"id": "a", "description": "x"}\nnot json\n', ":2: invalid JSON"),
    ('{"description": "x"}\n', "record has no 'id'"),
    ('{"id": "a"}\n', "needs 'description', 'text', 'explanation' or 'cues'"),
    ("", "no records"),
])
def test_eval_bad_files(tmp_path, files, capsys, content, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content, encoding="utf-8")
    assert main(["eval", str(bad), files[1]]) == 1
    assert message in capsys.readouterr().err


def test_eval_missing_file(files, capsys):
    assert main(["eval", "/no/such.jsonl", files[1]]) == 1
    assert "no such file" in capsys.readouterr().err


def test_eval_cue_records_and_per_sample_file(tmp_path, capsys):
    cues = {"visual": ["smile"], "audio": ["loud voice"], "global": ["happy"]}
    p = write(tmp_path / "p.jsonl", [{"id": 1, "cues": cues}])
    r = write(tmp_path / "r.jsonl", [{"id": 1, "cues": cues}])
    per = tmp_path / "per.jsonl"
    assert main(["eval", p, r, "--json", "--per-sample", str(per), "--preset", "official"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bleu_1"] is None and out["mean"] == pytest.approx(1.0, abs=1e-5)
    rec = json.loads(per.read_text().splitlines()[0])
    assert rec["id"] == "1" and rec["visual_f1"] == pytest.approx(1.0, abs=1e-5) and rec["reference_cues"] == cues


def test_eval_unreachable_llm_endpoint_is_one_line(files, tmp_path, capsys):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    rc = main(["eval", *files, "--extractor", "openai", "--base-url", f"http://127.0.0.1:{port}/v1",
               "--max-retries", "0", "--cache-dir", str(tmp_path / "cache"), "--json"])
    err = capsys.readouterr().err.strip()
    assert rc == 1 and err.count("\n") == 0
    assert err.startswith("xemogpt eval: error: openai extractor failed on 4 of 4 texts")


def test_eval_compares_like_with_like(tmp_path, capsys):
    """Own cue lists meet the reference's cue lists; free text meets the reference's description (both extracted),
    even though the reference record has both."""
    from emocue360.report import score_all

    cues = {"visual": ["a broad smile"], "audio": ["loud voice"], "global": ["warm yellow light"]}
    refs = [{"id": "a", "description": REF["a"], "cues": cues}]
    r = write(tmp_path / "r.jsonl", refs)
    own = write(tmp_path / "own.jsonl", [{"id": "a", "explanation": PRED["a"], "cues": cues}])
    assert main(["eval", own, r, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mean"] == pytest.approx(1.0, abs=1e-5)  # cues vs cues, no extractor
    text = write(tmp_path / "text.jsonl", [{"id": "a", "explanation": PRED["a"], "cues": None}])
    assert main(["eval", text, r, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lib = score_all([PRED["a"]], [REF["a"]], progress=False)  # text vs text, both through the rules extractor
    for key in ("bleu_1", "visual_precision", "audio_recall", "global_f1", "mean"):
        assert out[key] == pytest.approx(lib[key], abs=1e-9), key
