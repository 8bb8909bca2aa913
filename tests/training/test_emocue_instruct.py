"""EmoCue-Instruct / ShortCaption pipeline against a local chat-completions server, resume, expert sheets."""

from __future__ import annotations

import csv
import json

import pytest
from chat_server import ChatServer

from emocue360.cache import JSONCache
from llm_client.llm_backends import OpenAIChatBackend
from training.data.emocue_instruct import (aggregate_sheets, export_sheet, normalise_cues, read_sheet,
                                           run_emocue_instruct, run_short_caption)


@pytest.fixture()
def server():
    s = ChatServer()
    yield s
    s.close()


def _records():
    mods = ["multimodal", "visual", "audio", "multimodal", "visual", "multimodal"]
    emos = ["happy", "sad", "angry", "surprise", "fear", "neutral"]
    return [{"id": f"clip{i}", "video": None if m == "audio" else f"clip{i}.mp4", "audio": None,
             "subtitle": f"line, \"quoted\" {i}", "emotion": e,
             "cues": {"visual": [], "audio": [], "global": []},
             "description": f"Original MER-Caption+ text {i}: the person looks {e}.", "short_caption": "",
             "modality": m} for i, (m, e) in enumerate(zip(mods, emos))]


def _backend(server):
    return OpenAIChatBackend(model="test-chat", base_url=server.url, api_key="", max_retries=0, timeout=10,
                             max_workers=1)


def test_pipeline_resumes_after_endpoint_failure(server, tmp_path):
    records = _records()
    cache_dir = tmp_path / "cache"
    server.fail_after = 5
    with _backend(server) as be:
        first = run_emocue_instruct(records, be, JSONCache(cache_dir), progress=False)
    assert len(first.records) == 0 and sorted(first.failed_ids) == sorted(r["id"] for r in records)
    assert first.stages[0].sent == 6 and first.stages[0].failed == 1 and first.stages[1].failed == 5
    assert len(server.answered) == 5 and server.failed == 6
    assert "HTTP 500" in first.stages[0].errors[0]

    server.fail_after = None
    server.bad_once = {"sad"}
    with _backend(server) as be:
        second = run_emocue_instruct(records, be, JSONCache(cache_dir), progress=False)
    assert second.stages[0].cached == 5 and second.stages[0].sent == 1
    assert second.failed_ids == ["clip1"]  # its consolidation reply had no description
    with _backend(server) as be:
        third = run_emocue_instruct(records, be, JSONCache(cache_dir), progress=False, max_workers=2)
    assert third.complete and third.stages[0].sent == 0 and third.stages[1].sent == 1
    # every accepted call happened exactly once across the three runs (the first calls were not repeated); the only
    # repeat is the consolidation reply the validator rejected, which is not cached and so is asked again
    assert len(server.answered) == 2 * len(records) + 1 and len(set(server.answered)) == 2 * len(records)
    by_id = {r["id"]: r for r in third.records}
    assert [r["id"] for r in third.records] == [r["id"] for r in records]
    assert by_id["clip0"]["cues"] == {"visual": ["happy face"], "audio": ["happy voice"],
                                      "global": ["the scene is happy"]}
    assert by_id["clip1"]["cues"]["audio"] == []  # visual-only clip: audio cues dropped
    assert by_id["clip2"]["cues"]["visual"] == []  # audio-only clip
    assert by_id["clip3"]["description"].startswith("In the video, a surprise face")
    assert by_id["clip3"]["subtitle"] == records[3]["subtitle"]
    assert {r["id"]: r["description"] for r in third.references}["clip0"].startswith("Original MER-Caption+")
    n_before = len(server.answered)
    with _backend(server) as be:  # fully cached: nothing is sent
        again = run_emocue_instruct(records, be, JSONCache(cache_dir), progress=False)
    assert again.complete and len(server.answered) == n_before


def test_short_caption(server, tmp_path):
    records = _records()[:3]
    with _backend(server) as be:
        res = run_short_caption(records, be, JSONCache(tmp_path / "c"), progress=False)
    assert [r["short_caption"] for r in res.records] == ["happy face, happy voice, happy",
                                                         "sad face, sad voice, sad",
                                                         "angry face, angry voice, angry"]
    with _backend(server) as be:
        run_short_caption(records, be, JSONCache(tmp_path / "c"), progress=False)
    assert len(server.answered) == 3


def test_normalise_cues_aliases():
    got = normalise_cues({"Visual": "frown; tight lips", "auditory": ["loud", "loud"], "emotional": []}, "multimodal")
    assert got == {"visual": ["frown", "tight lips"], "audio": ["loud"], "global": []}
    with pytest.raises(ValueError, match="no cues"):
        normalise_cues({"foo": 1})


def test_sheet_export_and_fig10_aggregate(tmp_path):
    records = [{"id": f"s{i}", "emotion": "sad", "subtitle": "好，谢谢", "description": f"new {i}",
                "cues": {"visual": ["frown"], "audio": ["low voice"], "global": []}} for i in range(10)]
    refs = [{"id": f"s{i}", "description": f"old, \"quoted\" {i}"} for i in range(10)]
    sheet = export_sheet(records, refs, tmp_path / "sheet.csv", n=4, seed=3)
    again = export_sheet(records, refs, tmp_path / "sheet2.csv", n=4, seed=3)
    assert sheet.read_bytes() == again.read_bytes()  # same seed, same sample
    with open(sheet, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[0]["visual"] == "" and rows[0]["emocue_visual_cues"] == "frown"
    assert rows[0]["reference_description"].startswith("old, \"quoted\"")
    experts = []
    for e, scores in enumerate([(5, 4, 3), (4, 4, 3), (3, 2, "")]):
        p = tmp_path / f"expert{e}.csv"
        with open(p, "w", encoding="utf-8-sig", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            w.writeheader()
            for r in rows:
                w.writerow({**r, "visual": scores[0], "audio": scores[1], "global": scores[2]})
        experts.append(p)
    summary = aggregate_sheets(experts, tmp_path / "fig10")
    assert summary["num_samples"] == 4 and summary["num_sheets"] == 3
    assert summary["dimensions"]["visual"]["mean"] == 4.0 and summary["dimensions"]["visual"]["std"] == 0.0
    assert summary["dimensions"]["audio"]["mean"] == pytest.approx(10 / 3, abs=1e-4)
    assert summary["dimensions"]["global"]["mean"] == 3.0  # the blank cells of expert 3 are skipped
    assert sum(summary["dimensions"]["visual"]["histogram"]["counts"]) == 4
    assert (tmp_path / "fig10" / "fig10_scores.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "fig10" / "fig10_summary.json").read_text())["dimensions"]["visual"]["n"] == 4
    bad = tmp_path / "bad.csv"
    bad.write_text("id,visual,audio,global\ns1,6,3,3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2, column visual: score '6' is not a number from 1 to 5"):
        read_sheet(bad)
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("id,visual\ns1,3\n", encoding="utf-8")
    with pytest.raises(ValueError, match="lacks column"):
        read_sheet(nocol)
