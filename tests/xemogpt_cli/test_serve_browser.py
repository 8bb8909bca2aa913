"""`xemogpt serve`'s Gradio app in a real browser: headless Debian Chromium driven by Playwright.

The app runs on 127.0.0.1 on a free port with the real tiny-preset model; the test uploads a generated clip, presses
*Describe*, waits for the explanation and the sampled frames, checks them against what the model returned, and saves
a screenshot into the test's tmp dir. Skipped only when /usr/bin/chromium is missing (``bash scripts/setup.sh --test``
installs it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import chromium_page, free_port, needs_chromium, open_app, serving, upload

@pytest.fixture
def served_app(tmp_path, mp4_with_audio, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    pytest.importorskip("gradio")
    from xemogpt_cli.gradio_app import build_app, launch
    from xemogpt_cli.inference import Describer

    describer = Describer("tiny", max_new_tokens=16)
    calls = []

    def describe_fn(clip, modality, subtitle):
        result = describer(clip, modality=modality, subtitle=subtitle)
        calls.append((clip, modality, subtitle, result))
        return result

    app = build_app(describe_fn, examples=[mp4_with_audio], model_name=describer.name)
    url = launch(app, host="127.0.0.1", port=free_port(), block=False, allowed_paths=[str(mp4_with_audio.parent)])
    try:
        yield url, calls
    finally:
        app.close()


# bounding boxes of the frame grid, its panel (the output column) and every thumbnail; the explanation box's heights
LAYOUT_JS = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const grid = document.querySelector('#frames');
  const t = document.querySelector('#explanation textarea');
  return {grid: box(grid), panel: box(grid.closest('.column')), thumbs: [...grid.querySelectorAll('img')].map(box),
          text: [t.scrollHeight, t.clientHeight]};
}"""


def _inside(inner, outer, tol=1.0) -> bool:
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol and inner[2] <= outer[2] + tol
            and inner[3] <= outer[3] + tol)


def _check_layout(page, width: int, shot) -> dict:
    """At ``width`` px: the 16-frame grid inside its panel, every thumbnail inside the grid, the whole explanation
    visible without scrolling; a screenshot goes to ``shot``."""
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(500)  # relayout
    layout = page.evaluate(LAYOUT_JS)
    page.screenshot(path=str(shot), full_page=True)
    assert len(layout["thumbs"]) == 16
    assert _inside(layout["grid"], layout["panel"]), (width, layout["grid"], layout["panel"])
    outside = [t for t in layout["thumbs"] if not _inside(t, layout["grid"])]
    assert not outside, (width, outside, layout["grid"])
    assert layout["text"][0] <= layout["text"][1] + 2, (width, layout["text"])  # no hidden lines
    return layout


@needs_chromium
def test_upload_describe_in_chromium(served_app, mp4_with_audio, tmp_path):
    from xemogpt_cli.gradio_app import NO_TEXT, complete_sentences

    url, calls = served_app
    assert url.startswith("http://127.0.0.1:")
    with chromium_page(tmp_path / "chromium-profile") as page:
        open_app(page, url)
        upload(page, mp4_with_audio)
        page.locator("#subtitle textarea, #subtitle input").first.fill("It is finally over now.")
        page.locator("#describe").click()
        page.wait_for_function(
            "() => { const t = document.querySelector('#explanation textarea');"
            " return t && t.value.trim().length > 0 }", timeout=120_000)
        shown = page.locator("#explanation textarea").input_value()
        page.locator("#frames img").first.wait_for(timeout=30_000)
        page.wait_for_function(  # every thumbnail decoded, so the screenshot shows them
            "() => { const im = [...document.querySelectorAll('#frames img')];"
            " return im.length >= 16 && im.every(i => i.complete && i.naturalWidth > 0) }", timeout=30_000)
        num_frames = page.locator("#frames img").count()
        cue_panels = page.locator("#visual-cues").inner_text() + page.locator("#global-cues").inner_text()
        page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
        for width in (1280, 800):
            _check_layout(page, width, tmp_path / f"serve_{width}.png")
    assert len(calls) == 1
    clip, modality, subtitle, result = calls[0]
    assert Path(clip).name == mp4_with_audio.name and modality == "both" and subtitle == "It is finally over now."
    assert result.modality == "multimodal"
    assert shown == (complete_sentences(result.explanation)[0] or NO_TEXT)  # what the model generated
    assert num_frames == 16  # the processor's 16 sampled frames are shown
    assert "Visual cues" in cue_panels and "Global cues" in cue_panels
    shot = tmp_path / "serve.png"
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def _toast(page) -> str:
    """The text of the error the page shows (Gradio's toast), without its title and close button."""
    body = page.locator("[data-testid=toast-body]").first
    body.wait_for(timeout=60_000)
    return body.inner_text().splitlines()[-1]


@needs_chromium
def test_user_and_internal_errors_in_chromium(tmp_path, mp4_with_audio, mp4_no_audio, monkeypatch, caplog):
    """A text file uploaded as .mp4, and a modality the clip lacks: one line naming the uploaded file (not the
    server's temporary copy) and the reason, on the page and in the server log, no traceback. An internal error:
    logged with its traceback, the page says so."""
    import logging
    import shutil

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    pytest.importorskip("gradio")
    from xemogpt_cli.gradio_app import build_app
    from xemogpt_cli.inference import Describer

    describer = Describer("tiny", max_new_tokens=4)
    crash = shutil.copy(mp4_with_audio, tmp_path / "crash.mp4")

    def describe_fn(clip, modality, subtitle):
        if Path(clip).name == "crash.mp4":
            raise RuntimeError("an internal failure")
        return describer(clip, modality=modality, subtitle=subtitle)

    bad = tmp_path / "not a video.mp4"
    bad.write_text("this is a text file, not a video\n" * 20)
    shown = []
    caplog.set_level(logging.INFO, logger="xemogpt.serve")
    with serving(build_app(describe_fn)) as url, chromium_page(tmp_path / "profile") as page:
        for clip, modality in ((bad, None), (mp4_no_audio, "Audio only"), (Path(crash), None)):
            open_app(page, url)
            upload(page, clip)
            if modality:
                page.get_by_label(modality).check()
            page.locator("#describe").click()
            shown.append(_toast(page))
    reason = "not a readable media file (InvalidDataError: Invalid data found when processing input)"
    assert shown == [f"not a video.mp4: {reason}",
                     "no_audio.mp4: has no audio stream, so --modality audio cannot be used (try visual)",
                     "crash.mp4: internal error (details in the server log)"]
    records = [r for r in caplog.records if r.name == "xemogpt.serve"]
    assert [(r.levelname, r.getMessage(), r.exc_info is not None) for r in records] == [
        ("WARNING", f"describe: not a video.mp4: {reason}", False),
        ("WARNING", "describe: no_audio.mp4: has no audio stream, so --modality audio cannot be used (try visual)",
         False),
        ("ERROR", "describe: internal error on crash.mp4", True)]  # the traceback goes with it
    assert "RuntimeError: an internal failure" in caplog.text


@needs_chromium
def test_long_explanation_fits_and_is_not_cut_mid_sentence(tmp_path, mp4_with_audio, monkeypatch):
    """An explanation as long as the generation budget allows, stopped mid-sentence: the box shows it whole up to its
    last complete sentence at 1280 and 800 px, and a note says the unfinished sentence was left out."""
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    pytest.importorskip("gradio")
    from xemogpt_cli.gradio_app import build_app
    from xemogpt_cli.inference import sampled_frames

    budget = 256
    sentence = "The eyebrows rise and the voice gets louder, which is a typical sign of surprise. "
    text = (sentence * (budget * 6 // len(sentence)))[: budget * 6 - 40] + " Overall, the person is most likely"
    frames = sampled_frames(str(mp4_with_audio))
    app = build_app(lambda clip, modality, subtitle: {"frames": frames, "explanation": text, "emotion": "surprised",
                                                      "cues": {"visual": ["eyebrows rise"]}}, max_new_tokens=budget)
    with serving(app) as url, chromium_page(tmp_path / "profile") as page:
        for width in (1280, 800):  # a page opened at that width (the box sizes itself to its text)
            page.set_viewport_size({"width": width, "height": 900})
            open_app(page, url)
            upload(page, mp4_with_audio)
            page.locator("#describe").click()
            page.wait_for_function("() => document.querySelectorAll('#frames img').length >= 16", timeout=60_000)
            shown = page.locator("#explanation textarea").input_value()
            note = page.locator("#explanation-note").inner_text()
            _check_layout(page, width, tmp_path / f"long_{width}.png")
            assert shown == text[: text.rindex("surprise.") + len("surprise.")]
            assert "generation budget in the middle of a sentence" in note


def test_complete_sentences_and_upload_names(tmp_path):
    from xemogpt_cli.gradio_app import _upload_named, complete_sentences, explanation_lines

    assert complete_sentences("She smiles. Her voice rises") == ("She smiles.", True)
    assert complete_sentences("She smiles. Her voice rises.") == ("She smiles. Her voice rises.", False)
    assert complete_sentences('He says "no!" and') == ('He says "no!"', True)
    assert complete_sentences("ir ir ir") == ("ir ir ir", False)  # no sentence end at all: kept whole
    assert complete_sentences("  ") == ("", False)
    upload = tmp_path / "gradio" / "3f2a" / "my clip.mp4"
    err = ValueError(f"{upload}: has no video stream, so --modality visual cannot be used")
    assert _upload_named(err, str(upload)) == "my clip.mp4: has no video stream, so --modality visual cannot be used"
    assert explanation_lines(128) == 21 and explanation_lines(512) == 78 and explanation_lines(16) == 20


def test_serve_command_starts_and_answers(tmp_path):
    """`xemogpt serve` itself: the console entry starts the app on 127.0.0.1 and serves the page and its config."""
    import json
    import subprocess
    import sys
    import time
    import urllib.request

    pytest.importorskip("gradio")
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "xemogpt_cli", "serve", "--model", "tiny", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        config = None
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5) as r:
                    config = json.loads(r.read())
                break
            except OSError:
                time.sleep(1)
        assert config is not None, proc.stdout.read() if proc.poll() is not None else "no answer in 120 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert r.status == 200
        ids = {c.get("props", {}).get("elem_id") for c in config["components"]}
        assert {"clip", "modality", "describe", "frames", "explanation"} <= ids
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
