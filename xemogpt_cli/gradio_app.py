"""The Gradio app behind ``xemogpt serve`` (the Hub's demo convention: one ``gr.Blocks`` app).

Upload a clip (mp4/mkv/webm/avi, or wav/flac for audio only) or pick an example, choose the modality and press
*Describe*: the sampled frames (gallery), the generated explanation and the extracted cue lists are shown side by side.
When the answer carries per-cue time spans (``training/data/spans.py``), the cue selector lists the cues with a span;
selecting one outlines the sampled frames inside its span (:func:`highlight_frames`) and names the span in seconds.

A clip the app cannot use (not a media file, cut short, no such stream) is a *user error*: one line naming the
uploaded file (not the server's temporary copy) and the reason, in the page and in the server log, without a
traceback; any other failure is an internal error, logged with its traceback. An explanation that stopped at the
generation budget in the middle of a sentence is shown up to its last complete sentence, with a note saying so.

:func:`build_app` takes the describe function as a parameter, so the app can be built and driven in a browser with any
callable of the shape ``describe_fn(clip_path, modality, subtitle) -> Description`` (see
:class:`xemogpt_cli.inference.Description`; a plain dict with the same keys works too).
"""

from __future__ import annotations

import html
import logging
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

logger = logging.getLogger("xemogpt.serve")

MEDIA_TYPES = [".mp4", ".mkv", ".webm", ".avi", ".mov", ".wav", ".flac"]
NO_TEXT = "(the model generated no text)"
MODALITY_CHOICES = [("Video + audio", "both"), ("Video only", "visual"), ("Audio only", "audio")]
# The frame grid shrinks its thumbnails to the panel (Gradio's gallery keeps them >= 100 px, which pushes the 8th
# column out of a narrow panel) and is as tall as its rows: 8 columns on wide screens, 4 (4 x 4) below 1100 px.
# tests/xemogpt_cli/test_serve_browser.py checks the grid inside its panel at 1280 and 800 px.
APP_CSS = """
#frames .grid-container {grid-template-columns: repeat(8, minmax(0, 1fr)); grid-template-rows: none;
                         grid-auto-rows: auto;}
#frames .grid-wrap {min-height: 0; max-height: none;}
@media (max-width: 1100px) {#frames .grid-container {grid-template-columns: repeat(4, minmax(0, 1fr));}}
"""


def _field(result: Any, name: str, default: Any = None) -> Any:
    if isinstance(result, Mapping):
        return result.get(name, default)
    return getattr(result, name, default)


def _bullets(heading: str, items: Sequence[str]) -> str:
    body = "\n".join(f"- {item}" for item in items) if items else "_(none)_"
    return f"#### {heading}\n{body}"


_SENTENCE_END = r"[.!?。！？…][\"'”’)\]]*"


def complete_sentences(text: str) -> tuple[str, bool]:
    """``text`` without an unfinished last sentence (generation stopped at its token budget mid-sentence), and
    whether one was left out. A text with no sentence end at all is kept whole."""
    text = (text or "").strip()
    if not text or re.search(_SENTENCE_END + r"$", text):
        return text, False
    ends = list(re.finditer(_SENTENCE_END + r"(?=\s|$)", text))
    if not ends:
        return text, False
    return text[: ends[-1].end()], True


def format_outputs(result: Any) -> tuple[list, str, str, str, str, str, str]:
    """Turn a describe result into the values of the app's output components."""
    cues = _field(result, "cues") or {}
    frames = list(_field(result, "frames") or [])
    emotion = _field(result, "emotion") or "unknown"
    explanation, cut = complete_sentences(_field(result, "explanation", "") or "")
    note = ("_The explanation reached the generation budget in the middle of a sentence; that unfinished sentence "
            "is not shown (a larger `--max-new-tokens` gives the whole of it)._" if cut else "")
    return (
        frames,
        explanation or NO_TEXT,
        note,
        f"**Emotion:** {emotion}",
        _bullets("Visual cues", list(cues.get("visual", []))),
        _bullets("Audio cues", list(cues.get("audio", []))),
        _bullets("Global cues", list(cues.get("global", []))),
    )


HIGHLIGHT = (255, 140, 0)  # the outline of the frames inside a selected cue's span


def span_choices(result: Any) -> list[str]:
    """The cue selector's entries: ``"cue (start-end s)"`` for every visual/audio cue with a span."""
    spans = _field(result, "spans") or {}
    return [f"{s['cue']} ({s['start']:.2f}-{s['end']:.2f} s)" for key in ("visual", "audio") for s in spans.get(key) or []]


def highlight_frames(frames: Sequence, choice: str | None, seconds: float | None) -> tuple[list, str]:
    """The gallery with the frames inside the chosen cue's span outlined (frame ``i`` of ``T`` sampled at the middle of
    the ``i``-th of ``T`` equal parts of the clip's ``seconds``), and a line naming them."""
    from PIL import ImageOps

    from training.data.spans import frames_in_span

    match = re.search(r"\((\d+(?:\.\d+)?)-(\d+(?:\.\d+)?) s\)$", choice or "")
    if not frames or not match or not seconds:
        return list(frames), ""
    span = (float(match.group(1)), float(match.group(2)))
    times = [(i + 0.5) * seconds / len(frames) for i in range(len(frames))]
    inside = set(frames_in_span(span, times))
    def outlined(frame):  # same size, an 8-pixel outline
        return ImageOps.expand(frame.resize((max(8, frame.width - 16), max(8, frame.height - 16))), border=8,
                               fill=HIGHLIGHT)

    shown = [(outlined(f), "in span") if i in inside else (f, None) for i, f in enumerate(frames)]
    numbers = sorted(i + 1 for i in inside)
    return shown, f"**{choice}**: frames {numbers[0]}-{numbers[-1]} of {len(frames)} outlined" if numbers else ""


def explanation_lines(max_new_tokens: int, chars_per_token: float = 6.0, chars_per_line: int = 40) -> int:
    """Lines the explanation box needs for ``max_new_tokens`` tokens of text in a narrow panel (about 40 characters
    a line at 800 px; a token is at most about 6 characters of English)."""
    return max(20, int(max_new_tokens * chars_per_token / chars_per_line) + 2)


def _upload_named(exc: BaseException, path: str) -> str:
    """The error's one line with the uploaded file's own name in place of its temporary path."""
    text = " ".join(str(exc).split())
    for full in sorted({str(path), str(Path(path).resolve())}, key=len, reverse=True):
        text = text.replace(full, Path(path).name)
    return text


def build_app(
    describe_fn: Callable[[str, str, str], Any],
    examples: Sequence[str | Path] = (),
    title: str = "XEmoGPT: explainable multimodal emotion recognition",
    model_name: str = "",
    max_new_tokens: int = 256,
):
    """Build the ``gr.Blocks`` app around ``describe_fn(clip_path, modality, subtitle)``.

    ``examples`` are clip paths offered under the upload box; ``max_new_tokens`` is the generation budget of
    ``describe_fn``, and the explanation box grows to show that much text without scrolling. Returns the (not yet
    launched) ``gr.Blocks``.
    """
    import gradio as gr

    from training.data.media_check import probe_media

    max_lines = explanation_lines(max_new_tokens)

    def user_error(message: str):
        logger.warning("describe: %s", message)  # one line in the server log, no traceback
        return gr.Error(html.escape(message), print_exception=False)

    def on_describe(clip, modality, subtitle):
        if not clip:
            raise user_error("upload a clip (or pick an example) first")
        path = clip if isinstance(clip, str) else getattr(clip, "name", str(clip))
        name = Path(path).name  # Gradio keeps the uploaded file's own name for its temporary copy
        problem = probe_media(path).problem
        if problem:
            raise user_error(f"{name}: {problem}")
        try:
            result = describe_fn(path, modality or "both", subtitle or "")
        except (ValueError, FileNotFoundError) as exc:  # media / modality errors: one line naming the file
            raise user_error(_upload_named(exc, path)) from None
        except Exception:
            logger.exception("describe: internal error on %s", name)
            raise gr.Error(html.escape(f"{name}: internal error (details in the server log)"),
                           print_exception=False) from None
        frames_seen = list(_field(result, "frames") or [])
        from .grounding import clip_seconds

        seconds = clip_seconds(path, "video") if frames_seen else None
        choices = span_choices(result)
        selector = gr.update(choices=choices, value=None, visible=bool(choices))
        return (*format_outputs(result), selector, (frames_seen, seconds), "")

    def on_cue(choice, state):
        frames_seen, seconds = state or ([], None)
        return highlight_frames(frames_seen, choice, seconds)

    with gr.Blocks(title="XEmoGPT", analytics_enabled=False) as app:
        gr.Markdown(f"# {title}" + (f"\nModel: `{model_name}`" if model_name else ""))
        with gr.Row():
            with gr.Column(scale=1):
                clip = gr.File(label="Clip (video or wav/flac)", file_types=MEDIA_TYPES, type="filepath",
                               elem_id="clip")
                modality = gr.Radio(MODALITY_CHOICES, value="both", label="Modality", elem_id="modality")
                subtitle = gr.Textbox(label="Subtitle (optional)", lines=1, elem_id="subtitle")
                button = gr.Button("Describe", variant="primary", elem_id="describe")
                if examples:
                    gr.Examples(examples=[[str(p)] for p in examples], inputs=[clip], label="Example clips")
            with gr.Column(scale=2):
                frames = gr.Gallery(label="Sampled frames", columns=8, elem_id="frames", object_fit="contain")
                explanation = gr.Textbox(label="Explanation", lines=4, max_lines=max_lines, interactive=False,
                                         elem_id="explanation")
                note = gr.Markdown(elem_id="explanation-note")
                emotion = gr.Markdown(elem_id="emotion")
                cue_span = gr.Dropdown(choices=[], label="Show where a cue is", visible=False, elem_id="cue-span")
                span_note = gr.Markdown(elem_id="span-note")
                seen = gr.State(([], None))
                with gr.Row():
                    visual = gr.Markdown(label="Visual cues", elem_id="visual-cues")
                    audio = gr.Markdown(label="Audio cues", elem_id="audio-cues")
                    global_ = gr.Markdown(label="Global cues", elem_id="global-cues")
        button.click(on_describe, inputs=[clip, modality, subtitle],
                     outputs=[frames, explanation, note, emotion, visual, audio, global_, cue_span, seen, span_note],
                     api_name="describe")
        cue_span.change(on_cue, inputs=[cue_span, seen], outputs=[frames, span_note], api_name=False)
    return app


def launch(app, host: str = "127.0.0.1", port: int | None = None, block: bool = True,
           allowed_paths: Sequence[str | Path] = ()):
    """Launch ``app`` on ``host:port`` with analytics and sharing off; returns the local URL."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    _, url, _ = app.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=not block, quiet=not block,
        inbrowser=False, allowed_paths=[str(p) for p in allowed_paths], show_error=True,
        footer_links=["api"], ssr_mode=False, css=APP_CSS,
    )
    return url
