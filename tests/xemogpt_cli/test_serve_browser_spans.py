"""The app's cue-span highlight in a real browser (headless Chromium, as tests/xemogpt_cli/test_serve_browser.py): a described
clip whose answer carries per-cue spans offers its cues in the selector; selecting one outlines the frames inside the
span in the gallery and names them."""

from __future__ import annotations

import pytest
from browser import chromium_page, needs_chromium, open_app, serving, upload


@needs_chromium
def test_selecting_a_cue_highlights_its_frames(tmp_path, mp4_with_audio, monkeypatch):
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    pytest.importorskip("gradio")
    from xemogpt_cli.gradio_app import build_app
    from xemogpt_cli.inference import Describer

    describer = Describer("tiny", max_new_tokens=4)

    def describe_fn(clip, modality, subtitle):  # the tiny model's description, given the cues of a grounded answer
        result = describer(clip, modality=modality, subtitle=subtitle)
        result.cues = {"visual": ["a broad smile"], "audio": ["rising intonation"], "global": []}
        result.spans = {"visual": [{"cue": "a broad smile", "start": 1.0, "end": 2.0}],
                        "audio": [{"cue": "rising intonation", "start": 0.5, "end": 1.0}], "global": []}
        return result

    with serving(build_app(describe_fn)) as url, chromium_page(tmp_path / "profile") as page:
        open_app(page, url)
        upload(page, mp4_with_audio)
        page.locator("#describe").click()
        page.locator("#cue-span").wait_for(state="visible", timeout=120_000)
        page.locator("#cue-span input").click()
        page.get_by_role("option", name="a broad smile (1.00-2.00 s)").click()
        page.wait_for_function("() => document.querySelector('#span-note').innerText.includes('outlined')",
                               timeout=60_000)
        note = page.locator("#span-note").inner_text()
        page.wait_for_function(
            "() => { const im = [...document.querySelectorAll('#frames img')];"
            " return im.length >= 16 && im.every(i => i.complete && i.naturalWidth > 0) }", timeout=120_000)
        captions = page.evaluate("() => [...document.querySelectorAll('#frames .caption-label, #frames "
                                 "figcaption')].map(e => e.innerText.trim())")
        page.screenshot(path=str(tmp_path / "span.png"), full_page=True)
    assert "a broad smile (1.00-2.00 s): frames 9-16 of 16 outlined" in note
    assert captions.count("in span") == 8, captions
