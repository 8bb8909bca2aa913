"""The up-front media check (training/data/media_check.py) on real files: good clips, a text file named .mp4, clips
cut short (index at the end and at the start), a cut wav, missing and empty files; every bad record reported with
its id, file and reason; the memo follows changes on disk; the guard of media loaded later."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from training.data.media_check import (REPORT_LINES, BadMedia, BadMediaError, MediaGuard,
                                       SkippedMediaLog, check_records, media_uses, probe_media, without_bad)
from training.data.media_writer import write_audio, write_mp4

from conftest import cut_file, make_indexed_frames, sine


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad_media")
    frames = make_indexed_frames(32)
    faststart = write_mp4(d / "faststart.mp4", frames, audio=sine(2.0), faststart=True)
    wav = write_audio(d / "tone.wav", sine(1.5), 16000)
    text = d / "text.mp4"
    text.write_text("this is a text file, not a video\n" * 20)
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    return {
        "good": write_mp4(d / "good.mp4", frames, audio=sine(2.0)),
        "no_audio": write_mp4(d / "no_audio.mp4", frames),
        "faststart": faststart,
        "wav": wav,
        "text": text,
        "empty": empty,
        "missing": d / "missing.mp4",
        "cut_index_at_end": cut_file(write_mp4(d / "full.mp4", frames, audio=sine(2.0)), d / "cut_end.mp4", 0.6),
        "cut_index_at_start": cut_file(faststart, d / "cut_start.mp4", 0.6),
        "cut_wav": cut_file(wav, d / "cut.wav", 0.5),
        "zero_wav": write_audio(d / "zero.wav", np.zeros(0, np.float32), 16000),
    }


def test_probe_of_each_kind_of_file(bad_files):
    good = probe_media(bad_files["good"])
    assert good.problem is None and good.streams == {"video": None, "audio": None}
    assert good.duration == pytest.approx(2.0, abs=0.1)
    assert probe_media(bad_files["faststart"]).streams == {"video": None, "audio": None}
    assert probe_media(bad_files["wav"]).streams == {"audio": None}
    no_audio = probe_media(bad_files["no_audio"])
    assert no_audio.problem_for("video") is None
    assert no_audio.problem_for("audio") == "no audio stream (streams: video)"
    expected = {
        "text": "not a readable media file (InvalidDataError: Invalid data found when processing input)",
        "empty": "empty file (0 bytes), not a media file",
        "missing": "file not found",
        "cut_index_at_end": "not a readable media file (",
        "cut_index_at_start": "truncated: 18 of the 32 video frames the file declares are present",
        "cut_wav": "truncated: 11989 of the 24000 audio samples the header declares are present (0.75 s of 1.50 s)",
    }
    for name, reason in expected.items():
        found = probe_media(bad_files[name])
        assert found.problem.startswith(reason), (name, found.problem)
        assert "\n" not in found.problem and "Errno" not in found.problem and str(bad_files[name]) not in \
            found.problem
        assert found.problem_for("video") == found.problem_for("audio") == found.problem
    assert probe_media(bad_files["zero_wav"]).problem_for("audio").startswith("zero-length audio")


def test_the_loaders_agree_that_the_bad_files_are_bad(bad_files):
    """What the probe rejects really fails (or silently loses data) when the clip is loaded for training."""
    from processing_xemogpt import MediaError, load_audio, load_video_frames

    for name in ("text", "empty", "missing", "cut_index_at_end"):
        with pytest.raises(MediaError):
            load_video_frames(bad_files[name])
    with pytest.raises(MediaError, match="cut_start.mp4: cannot decode the audio stream"):
        load_audio(bad_files["cut_index_at_start"])
    assert len(load_audio(bad_files["cut_wav"])) < 0.55 * len(load_audio(bad_files["wav"]))  # half the samples


def test_the_memo_follows_the_file(tmp_path):
    clip = write_mp4(tmp_path / "clip.mp4", make_indexed_frames(8))
    assert probe_media(clip).problem is None
    assert probe_media(clip) is probe_media(clip)  # memoised by path, size and modification time
    clip.write_text("replaced by a text file\n" * 5)
    os.utime(clip, ns=(1, 1))
    assert probe_media(clip).problem.startswith("not a readable media file")


def test_on_disk_memo(tmp_path, monkeypatch):
    import training.data.media_check as mc

    clip = write_mp4(tmp_path / "clip.mp4", make_indexed_frames(8))
    memo = tmp_path / "memo" / "media_probes.json"
    records = [{"id": "a", "video": str(clip), "audio": None, "modality": "visual"}]
    assert mc.MediaChecker(memo).check_records(records) == []
    assert json.loads(memo.read_text())[os.path.abspath(clip)]["probe"]["streams"] == {"video": None}
    probe = mc._probe_uncached
    monkeypatch.setattr(mc, "_MEMO", {})  # another process: the on-disk entry answers, nothing is probed
    monkeypatch.setattr(mc, "_probe_uncached", lambda path: pytest.fail("probed again"))
    assert mc.MediaChecker(memo).check_records(records) == []
    clip.write_bytes(b"\0" * 100)  # changed on disk: probed again
    monkeypatch.setattr(mc, "_probe_uncached", probe)
    (bad,) = mc.MediaChecker(memo).check_records(records)
    assert bad.reason.startswith("not a readable media file")
    memo.write_text("{ not json")  # a damaged memo is only a memo
    assert mc.MediaChecker(memo).check_records(records) == [bad]


def _record(rid, video=None, audio=None, modality="multimodal"):
    return {"id": rid, "video": None if video is None else str(video), "audio": None if audio is None else str(audio),
            "modality": modality}


def test_every_bad_record_is_reported(bad_files):
    f = bad_files
    records = [
        _record("ok_multi", f["good"]),
        _record("ok_visual_no_track", f["no_audio"], modality="visual"),
        _record("ok_multi_no_track", f["no_audio"]),  # multimodal without an audio track: video only, fine
        _record("ok_audio", audio=f["wav"], modality="audio"),
        _record("corrupt", f["text"]),
        _record("missing", f["missing"]),
        _record("cut", f["cut_index_at_start"]),
        _record("cut_wav", f["good"], audio=f["cut_wav"]),
        _record("audio_without_track", f["no_audio"], modality="audio"),
    ]
    bad = check_records(records)
    assert [(b.record_id, Path(b.file).name) for b in bad] == [
        ("corrupt", "text.mp4"), ("missing", "missing.mp4"), ("cut", "cut_start.mp4"), ("cut_wav", "cut.wav"),
        ("audio_without_track", "no_audio.mp4")]
    assert bad[1].line() == f"record 'missing': {f['missing']}: file not found"
    assert bad[4].reason == "no audio stream (streams: video)"
    assert [r["id"] for r in without_bad(records, bad)] == [r["id"] for r in records[:4]]
    # the kinds a job reads: a video-only job does not care about the audio file
    assert [b.record_id for b in check_records(records, kinds=("video",))] == ["corrupt", "missing", "cut"]
    assert [b.record_id for b in check_records(records, kinds=("audio",), feed_all_media=False)] == [
        "corrupt", "missing", "cut", "cut_wav", "audio_without_track"]


def test_media_uses_follow_the_sample_rule():
    visual = _record("v", "a.mp4", modality="visual")
    audio = _record("a", "a.mp4", modality="audio")
    assert media_uses(visual) == [("a.mp4", "video", True), ("a.mp4", "audio", False)]
    assert media_uses(visual, feed_all_media=False) == [("a.mp4", "video", True)]
    assert media_uses(audio, feed_all_media=False) == [("a.mp4", "audio", True)]
    assert media_uses(_record("m", "a.mp4", "b.wav")) == [("a.mp4", "video", True), ("b.wav", "audio", True)]


def test_report_lists_the_first_lines_and_where_the_rest_is():
    bad = [BadMedia(f"r{i}", f"/d/r{i}.mp4", "file not found") for i in range(REPORT_LINES + 3)]
    err = BadMediaError(bad, header="training set: 23 of 40 records have unusable media", full_list="/o/bad.jsonl")
    lines = str(err).splitlines()
    assert lines[0] == "training set: 23 of 40 records have unusable media:"
    assert lines[1] == "  record 'r0': /d/r0.mp4: file not found" and len(lines) == REPORT_LINES + 2
    assert lines[-1] == "  ... and 3 more (all listed in /o/bad.jsonl)"
    assert str(BadMediaError(bad[:1])) == "record 'r0': /d/r0.mp4: file not found"  # one problem: one line


def test_guard_of_media_loaded_later(tmp_path, bad_files):
    from processing_xemogpt.media import load_video_frames

    items = [("a", bad_files["good"]), ("b", bad_files["text"]), ("c", bad_files["good"])]

    def media_of(item):
        return item[0], [("video", str(item[1]))]

    def load(kind, path):
        return load_video_frames(path, num_frames=2)

    with pytest.raises(BadMediaError) as err:
        MediaGuard().load(items, media_of, load)
    assert str(err.value) == (f"record 'b': {bad_files['text']}: not a readable media file (InvalidDataError: "
                              "Invalid data found when processing input)")
    log = SkippedMediaLog(tmp_path / "skipped_media.jsonl")
    kept = MediaGuard("skip", log, stage="stage3_sft").load(items, media_of, load)
    assert [item[0] for item, _ in kept] == ["a", "c"] and kept[0][1]["video"].shape[0] == 2
    rows = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert rows == [{"split": "while running", "stage": "stage3_sft", "record_id": "b", "file": str(bad_files["text"]),
                     "reason": "not a readable media file (InvalidDataError: Invalid data found when processing "
                               "input)"}]
    with pytest.raises(BadMediaError, match="no sample of this batch has usable media"):
        MediaGuard("skip").load(items[1:2], media_of, load)
