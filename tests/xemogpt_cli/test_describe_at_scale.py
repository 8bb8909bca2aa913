"""`xemogpt describe INPUT --out PREDICTIONS.jsonl` at scale, on real generated clips and a real tiny checkpoint:
records / folder / list inputs, batched == one at a time == the processor's own loading, a bad clip inside a batch,
resume after a kill (a torn last line included), settings guard, 60 s clip in windows, the JSON answer format, and
the predictions file read by `xemogpt eval` as it is."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xemogpt_cli.main import main
from xemogpt_cli.predictions import FIELDS

from conftest import SR, chirp, frame_index_of

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from training.data.synthetic import make_synthetic

    d = tmp_path_factory.mktemp("syn")
    make_synthetic(d, 6, seed=2, workers=1)
    return d


@pytest.fixture(scope="module")
def broken_records(syn, tmp_path_factory, not_media_file):
    """The 6 synthetic records plus one whose video is not a media file and one whose video is missing (ids 3, 5)."""
    records = [json.loads(line) for line in (syn / "emocue.jsonl").read_text().splitlines()]
    for r in records:
        for key in ("video", "audio"):
            r[key] = str(syn / r[key]) if r[key] else None
    bad = dict(records[0], id="bad_media", video=str(not_media_file), audio=None, modality="visual")
    gone = dict(records[0], id="missing", video=str(syn / "clips" / "gone.mp4"), audio=None, modality="visual")
    records = records[:3] + [bad] + records[3:4] + [gone] + records[4:]
    path = tmp_path_factory.mktemp("broken") / "records.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def describe(*argv) -> int:
    return main(["describe", *map(str, argv), "--no-progress"])


def read(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def test_records_batched_equals_one_at_a_time_and_the_processors_loading(syn, ckpt, tmp_path, capsys):
    from training.data.loaders import load_records
    from training.data.sample import sample_from_record
    from xemogpt_cli.inference import Describer

    records = syn / "emocue.jsonl"
    assert describe(records, "--model", ckpt, "--out", tmp_path / "b4.jsonl", "--batch-size", "4",
                    "--max-new-tokens", "12") == 0
    assert describe(records, "--model", ckpt, "--out", tmp_path / "b1.jsonl", "--batch-size", "1",
                    "--max-new-tokens", "12") == 0
    capsys.readouterr()
    b4, b1 = read(tmp_path / "b4.jsonl"), read(tmp_path / "b1.jsonl")
    refs = load_records(records)
    assert [r["id"] for r in b4] == [r["id"] for r in refs] == [r["id"] for r in b1]
    assert all(set(r) == set(FIELDS) for r in b4)
    assert all(r["error"] is None and r["model"] == str(ckpt) and r["answer_format"] == "text" for r in b4)
    assert [r["modality"] for r in b4] == [r["modality"] for r in refs]
    texts = [r["explanation"] for r in b4]
    assert len(set(texts)) > 1 and all(texts)  # input-dependent output, so the comparisons below mean something
    assert texts == [r["explanation"] for r in b1]  # left-padded batches change nothing
    # the runner decodes media itself (per clip, to catch errors); the processor loading the paths gives the same
    describer = Describer(ckpt, max_new_tokens=12)
    from_paths = describer.generate([sample_from_record(r, feed_all_media=False, answer_format=None) for r in refs])
    assert texts == from_paths


def test_bad_clip_in_a_batch_and_eval_reads_the_file(broken_records, ckpt, tmp_path, capsys):
    out = tmp_path / "p.jsonl"
    assert describe(broken_records, "--model", ckpt, "--out", out, "--batch-size", "4", "--max-new-tokens", "6") == 0
    err = capsys.readouterr().err
    assert "8 clips in" in err and "2 failed" in err
    rows = {r["id"]: r for r in read(out)}
    assert len(rows) == 8
    assert "not_media.mp4" in rows["bad_media"]["error"] and "not a readable media file" in rows["bad_media"]["error"]
    assert "gone.mp4" in rows["missing"]["error"] and "not found" in rows["missing"]["error"]
    assert all("\n" not in r["error"] for r in (rows["bad_media"], rows["missing"]))
    assert rows["bad_media"]["explanation"] is None
    good = [r for r in rows.values() if not r["error"]]
    assert len(good) == 6 and all(r["explanation"] is not None for r in good)
    # `xemogpt eval` reads the file as it is: failed clips are refused in one line, or left out
    assert main(["eval", str(out), str(broken_records), "--json"]) == 1
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and "2 prediction(s) failed" in line and "--skip-failed" in line
    assert main(["eval", str(out), str(broken_records), "--json", "--skip-failed"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_samples"] == 6
    # free-text predictions meet the references' descriptions (like with like), as score_all on the two texts
    from emocue360.report import score_all

    refs = {r["id"]: r for r in read(broken_records)}
    ids = [k for k in refs if not rows[k]["error"]]
    lib = score_all([rows[k]["explanation"] for k in ids], [refs[k]["description"] for k in ids], progress=False)
    for key in ("bleu_1", "visual_precision", "audio_recall", "global_f1", "mean"):
        assert result[key] == pytest.approx(lib[key], abs=1e-9), key


def test_resume_after_a_kill_skips_finished_ids(syn, ckpt, tmp_path, capsys):
    records = syn / "emocue.jsonl"
    out = tmp_path / "p.jsonl"
    args = [records, "--model", ckpt, "--out", out, "--batch-size", "2", "--max-new-tokens", "8"]
    assert describe(*args) == 0
    full = out.read_text()
    lines = full.splitlines(keepends=True)
    out.write_text("".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # killed while writing the 4th line
    capsys.readouterr()
    assert describe(*args) == 0
    err = capsys.readouterr().err
    assert "6 clips in" in err and "3 already done" in err and "this run: 3 in" in err
    assert out.read_text() == full  # same lines, input order, nothing twice
    info = json.loads((tmp_path / "p.run.json").read_text())
    assert info["figures"]["skipped_done"] == 3 and info["settings"]["max_new_tokens"] == 8
    # other settings: refused in one line naming the file, unless --overwrite
    assert describe(records, "--model", ckpt, "--out", out, "--max-new-tokens", "9") == 1
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and str(out) in line and "max_new_tokens: 8 then, 9 now" in line
    assert describe(records, "--model", ckpt, "--out", out, "--max-new-tokens", "9", "--overwrite") == 0
    assert json.loads((tmp_path / "p.run.json").read_text())["figures"]["skipped_done"] == 0


def test_folder_and_list_inputs(tmp_path, ckpt, mp4_with_audio, wav_file, not_media_file, capsys):
    folder = tmp_path / "clips"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(mp4_with_audio, folder / "a.mp4")
    shutil.copy(wav_file, folder / "sub" / "b.wav")
    shutil.copy(not_media_file, folder / "c.mp4")
    (folder / "notes.txt").write_text("not a clip")
    assert describe(folder, "--model", ckpt, "--max-new-tokens", "4", "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["id"] for r in rows] == ["a.mp4", "c.mp4", "sub/b.wav"]
    assert [r["modality"] for r in rows] == ["multimodal", None, "audio"]
    assert rows[1]["error"] and "c.mp4" in rows[1]["error"]
    listing = tmp_path / "clips.txt"
    listing.write_text("# two clips and a missing one\nclips/a.mp4\n\nclips/none.wav\n" + f"{wav_file}\n")
    assert describe(listing, "--model", ckpt, "--max-new-tokens", "4") == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("[clips/a.mp4] ") and printed[2].startswith(f"[{wav_file}] ")
    assert printed[1].startswith("[clips/none.wav] error: ") and "not found" in printed[1]
    listing.write_text("clips/a.mp4\nclips/a.mp4\n")
    assert describe(listing, "--model", ckpt) == 1
    assert "listed twice" in capsys.readouterr().err


def test_sixty_second_clip_in_windows(long_mp4, ckpt, tmp_path, capsys):
    out = tmp_path / "w.jsonl"
    assert describe(long_mp4, "--model", ckpt, "--segment", "10", "--out", out, "--max-new-tokens", "4") == 0
    rows = read(out)
    assert [(r["start"], r["end"]) for r in rows] == [(10.0 * k, 10.0 * k + 10) for k in range(6)]
    assert [r["id"] for r in rows][:2] == [f"{long_mp4}@0.00-10.00", f"{long_mp4}@10.00-20.00"]
    assert all(r["modality"] == "multimodal" and r["error"] is None for r in rows)
    assert "6 windows in" in capsys.readouterr().err
    assert describe(long_mp4, "--model", ckpt, "--segment", "10", "--stride", "5", "--out", tmp_path / "s.jsonl",
                    "--max-new-tokens", "2") == 0
    rows = read(tmp_path / "s.jsonl")
    assert len(rows) == 11 and (rows[-1]["start"], rows[-1]["end"]) == (50.0, 60.0)


def test_a_window_feeds_its_own_frames_and_audio(long_mp4):
    from processing_xemogpt import XEmoGPTProcessor
    from training.data.sample import EmoCueSample
    from processing_xemogpt.pipeline_xemogpt import load_media

    processor = XEmoGPTProcessor.from_preset("tiny")
    sample = EmoCueSample(id="w", modality="multimodal", video=str(long_mp4), audio=str(long_mp4), subtitle="")
    frames, audio = load_media(processor, sample.video, sample.audio, 20.0, 30.0)
    # 4 fps: [20 s, 30 s) holds frames 80..119; 16 segment middles -> 80 + floor((i + 0.5) * 40 / 16)
    assert [frame_index_of(f) for f in frames] == [80 + (2 * i + 1) * 40 // 32 for i in range(16)]
    assert audio.shape == (10 * SR,)
    assert np.abs(audio - chirp(60.0)[20 * SR : 30 * SR]).max() < 0.01


def test_json_answer_format_from_the_checkpoint_config(syn, json_ckpt, tmp_path, capsys):
    from processing_xemogpt import JSON_ANSWER_INSTRUCTION
    from xemogpt_cli.describe_inputs import resolve_inputs
    from xemogpt_cli.describe_run import Job, Runner
    from xemogpt_cli.inference import Describer

    describer = Describer(json_ckpt, max_new_tokens=6)
    assert describer.answer_format == "json"
    items, kind = resolve_inputs(syn / "emocue.jsonl")
    messages = describer.pipeline.messages_for(describer.pipeline.clip_of(Runner(describer).input_of(
        Job(items[0].id, items[0]))))
    prompt = describer.processor.apply_chat_template(messages, add_generation_prompt=True)
    assert JSON_ANSWER_INSTRUCTION.strip() in prompt  # the instruction asks for what the model was trained to write
    out = tmp_path / "j.jsonl"
    assert describe(syn / "emocue.jsonl", "--model", json_ckpt, "--out", out, "--max-new-tokens", "6") == 0
    rows = read(out)
    assert len(rows) == 6 and all(r["answer_format"] == "json" and r["error"] is None for r in rows)
    # an untrained model writes no JSON: flagged, the raw text kept as the explanation, never a crash
    assert all(r["invalid_json"] and r["json_error"] and r["cues"] is None for r in rows)
    assert all(r["explanation"] == r["raw"] for r in rows)
    assert all("cut off at the generation limit" in r["json_error"] for r in rows if r["truncated"])
    capsys.readouterr()
    assert json.loads((tmp_path / "j.run.json").read_text())["settings"]["answer_format"] == "json"


def test_single_clip_errors_stay_one_line(capsys, long_mp4, ckpt):
    assert describe(long_mp4, "--model", ckpt, "--stride", "5") == 1
    assert "--stride needs --segment" in capsys.readouterr().err
    assert describe(long_mp4, "--model", ckpt, "--segment", "0") == 1
    assert "--segment must be a positive" in capsys.readouterr().err
