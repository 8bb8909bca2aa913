"""Bad media in a training set (a text file named .mp4, a missing clip, clips cut short): stages 1-3 list every bad
record in one report before any training (``data.on_bad_media: error``) or train on the rest and write the skipped
list next to the run (``skip``); a clip that changes on disk after the check fails with the same one-line error
naming its record (or is skipped) — in the feature extraction and in the collator."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from training.bad_media import StageMedia
from training.data.media_check import BadMediaError
from training.data.media_writer import write_audio, write_mp4

from conftest import cut_file, make_indexed_frames, sine

ROOT = Path(__file__).resolve().parents[1]
CFG = ROOT / "training" / "configs"
BAD_IDS = ["bad_corrupt", "bad_missing", "bad_truncated"]
NO_BRIDGES = ["--vecb", "random", "--aecb", "random"]

pytestmark = pytest.mark.usefixtures("torch_single_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """12 good synthetic clips + 3 records with a bad video (+ an audio record whose wav is cut), and 4 held out."""
    from training.data.synthetic import make_synthetic

    d = tmp_path_factory.mktemp("badmedia")
    make_synthetic(d, 16, seed=5, modality_mix=(0.6, 0.2, 0.2), workers=1)
    records = [json.loads(line) for line in open(d / "emocue.jsonl")]
    template = next(r for r in records if r["modality"] == "multimodal")
    (d / "corrupt.mp4").write_text("this is a text file, not a video\n" * 20)
    full = write_mp4(d / "full.mp4", make_indexed_frames(32), fps=16, audio=sine(2.0), faststart=True)
    cut_file(full, d / "truncated.mp4", 0.6)
    cut_file(write_audio(d / "tone.wav", sine(1.5), 16000), d / "cut.wav", 0.5)
    bad = [{**template, "id": rid, "video": video, "audio": None}
           for rid, video in zip(BAD_IDS, ("corrupt.mp4", "missing.mp4", "truncated.mp4"))]
    cut_wav = {**template, "id": "bad_cut_wav", "video": None, "audio": "cut.wav", "modality": "audio"}
    train = records[:12]
    (d / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train[:6] + bad + train[6:]))
    (d / "train_wav.jsonl").write_text("".join(json.dumps(r) + "\n" for r in train + bad + [cut_wav]))
    (d / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[12:]))
    return d


def _bad_lines(message: str) -> list[str]:
    return [line.strip() for line in message.splitlines() if line.strip().startswith("record ")]


def _check_report(message: str, data: Path, ids: list[str], total: int):
    first = message.splitlines()[0]
    assert first == (f"training set: {len(ids)} of {total} records have unusable media "
                     "(data.on_bad_media: skip trains on the rest):")
    lines = _bad_lines(message)
    assert [line.split("'")[1] for line in lines] == ids
    by_id = dict(zip(ids, lines))
    assert by_id["bad_corrupt"] == (f"record 'bad_corrupt': {data / 'corrupt.mp4'}: not a readable media file "
                                    "(InvalidDataError: Invalid data found when processing input)")
    assert by_id["bad_missing"] == f"record 'bad_missing': {data / 'missing.mp4'}: file not found"
    assert by_id["bad_truncated"] == (f"record 'bad_truncated': {data / 'truncated.mp4'}: truncated: 18 of the 32 "
                                      "video frames the file declares are present")


@pytest.mark.parametrize("stage", [1, 2])
def test_bridge_stages_report_every_bad_record_before_training(data, tmp_path, stage):
    import importlib

    main = importlib.import_module(f"training.stage{stage}_{'vecb' if stage == 1 else 'aecb'}").main
    with pytest.raises(BadMediaError) as err:
        main(["--config", str(CFG / f"stage{stage}_tiny.yaml"), "--train_file", str(data / "train_wav.jsonl"),
              "--eval_file", "null", "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(tmp_path / "out")])
    ids = BAD_IDS if stage == 1 else BAD_IDS + ["bad_cut_wav"]  # stage 1 reads no audio file
    _check_report(str(err.value), data, ids, 16)
    if stage == 2:
        assert _bad_lines(str(err.value))[-1] == (
            f"record 'bad_cut_wav': {data / 'cut.wav'}: truncated: 11989 of the 24000 audio samples the header "
            "declares are present (0.75 s of 1.50 s)")
    assert not list((tmp_path / "out").glob("checkpoint-*"))


def test_stage3_command_prints_the_report_without_traceback(data, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "training.stage3_sft", "--config", str(CFG / "stage3_tiny.yaml"),
         "--train_file", str(data / "train.jsonl"), "--eval_file", str(data / "test.jsonl"),
         *NO_BRIDGES, "--cache_dir", str(tmp_path / "cache"), "--output_dir", str(out)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    report = proc.stderr[proc.stderr.index("error: "):]
    _check_report(report.removeprefix("error: "), data, BAD_IDS, 15)


def _stage3(data, tmp_path, *extra, cache=True):
    from training.stage3_sft import main

    return main(["--config", str(CFG / "stage3_tiny.yaml"), "--train_file", str(data / "train.jsonl"),
                 "--eval_file", str(data / "test.jsonl"), *NO_BRIDGES,
                 "--cache_dir", str(tmp_path / "cache") if cache else "null", "--output_dir", str(tmp_path / "out"),
                 "--max_steps", "2", "--save_strategy", "no", "--per_device_train_batch_size", "8",
                 "--disable_tqdm", "true", "--save_merged", "false", "--loss_before_after", "false",
                 *extra])


def test_stage3_skip_trains_on_the_rest_and_lists_the_skipped(data, tmp_path, capsys):
    figures = _stage3(data, tmp_path, "--on_bad_media", "skip")
    assert figures["global_step"] == 2 and figures["train_samples"] == 12
    rows = [json.loads(line) for line in (tmp_path / "out" / "skipped_media.jsonl").read_text().splitlines()]
    assert [(r["record_id"], r["split"], r["stage"]) for r in rows] == [(i, "training set", "stage3_sft")
                                                                         for i in BAD_IDS]
    assert rows[1] == {"split": "training set", "stage": "stage3_sft", "record_id": "bad_missing",
                       "file": str(data / "missing.mp4"), "reason": "file not found"}
    out = capsys.readouterr().out
    assert (f"[stage3_sft] training set: skipped 3 of 15 records with unusable media (data.on_bad_media: skip; "
            f"listed in {tmp_path / 'out' / 'skipped_media.jsonl'})") in out


@pytest.fixture
def victim_data(data, tmp_path, monkeypatch):
    """The good training records plus 'victim', whose clip (a copy) is replaced by a text file right after the
    up-front check passed it: a clip that changed on disk while the run goes on."""
    records = [json.loads(line) for line in open(data / "train.jsonl") if '"bad_' not in line]
    template = next(r for r in records if r["modality"] == "multimodal")
    clip = tmp_path / "victim.mp4"
    shutil.copy(data / template["video"], clip)
    d = tmp_path / "victim_data"
    d.mkdir()
    victim = {**template, "id": "victim", "video": str(clip)}
    (d / "train.jsonl").write_text("".join(json.dumps({**r, "video": r["video"] and str(data / r["video"]),
                                                       "audio": r["audio"] and str(data / r["audio"])}) + "\n"
                                           for r in [victim] + records))
    shutil.copy(data / "test.jsonl", d / "test.jsonl")
    for sub in ("clips",):
        (d / sub).symlink_to(data / sub)
    check = StageMedia.check

    def check_then_change(self, records, what, *args, **kwargs):
        kept = check(self, records, what, *args, **kwargs)
        if what == "training set":
            clip.write_text("replaced by a text file after the check\n" * 10)
        return kept

    monkeypatch.setattr(StageMedia, "check", check_then_change)
    return d, clip


@pytest.mark.parametrize("cache", [True, False], ids=["feature_extraction", "collator"])
def test_clip_changed_after_the_check_names_its_record(victim_data, tmp_path, cache):
    d, clip = victim_data
    with pytest.raises(BadMediaError) as err:
        _stage3(d, tmp_path, cache=cache)
    reason = "not a readable media file (InvalidDataError: Invalid data found when processing input)"
    if cache:  # the feature extraction decodes it: the report of the stage
        assert str(err.value) == ("training set: 1 of 13 records have media that failed to decode while extracting "
                                  "features (data.on_bad_media: skip trains on the rest):\n"
                                  f"  record 'victim': {clip}: {reason}")
    else:  # the collator decodes it during training: one line
        assert str(err.value) == f"record 'victim': {clip}: {reason}"


@pytest.mark.parametrize("cache", [True, False], ids=["feature_extraction", "collator"])
def test_clip_changed_after_the_check_is_skipped(victim_data, tmp_path, cache):
    d, clip = victim_data
    figures = _stage3(d, tmp_path, "--on_bad_media", "skip", cache=cache)
    assert figures["global_step"] == 2
    rows = [json.loads(line) for line in (tmp_path / "out" / "skipped_media.jsonl").read_text().splitlines()]
    assert {(r["record_id"], r["file"]) for r in rows} == {("victim", str(clip))}
    assert rows[0]["split"] == ("training set" if cache else "during training")
    if cache:
        assert figures["train_samples"] == 12
