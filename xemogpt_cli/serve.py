"""``xemogpt serve``: the Gradio demo app (upload or pick a clip, see frames, explanation and cues side by side)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

DEFAULT_BUDGET = 256  # new tokens when neither --max-new-tokens nor the checkpoint says


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve",
        help="start the Gradio demo app in the browser",
        description="Serve a Gradio app that describes uploaded clips. Model: --model, else $XEMOGPT_MODEL, else "
        "./demo_output/checkpoint, else the untrained tiny preset. Needs the 'serve' extra (gradio).",
    )
    p.add_argument("--model", default=None, help="checkpoint directory or Hub id ('tiny': untrained tiny preset)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 picks a free one)")
    p.add_argument("--examples", default=None,
                   help="folder of example clips to offer (default: the demo's held-out clips when present)")
    p.add_argument("--max-new-tokens", type=int, default=None,
                   help="generation budget (default: the checkpoint's, generation_config.max_new_tokens as stage 3 "
                   f"writes it from its longest training answer; else {DEFAULT_BUDGET})")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)
    return p


def generation_budget(model, requested: int | None = None) -> int:
    """The explanation budget: ``requested``, else the checkpoint's ``generation_config.max_new_tokens``, else
    :data:`DEFAULT_BUDGET`."""
    saved = getattr(getattr(model, "generation_config", None), "max_new_tokens", None)
    return int(requested or saved or DEFAULT_BUDGET)


def server_log() -> logging.Logger:
    """The app's own log lines (user errors: one line; internal errors: with their traceback) on stderr."""
    log = logging.getLogger("xemogpt.serve")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s xemogpt serve %(levelname)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


def find_examples(folder: str | Path | None, limit: int = 6) -> list[Path]:
    """Example clips: ``folder``'s media files, else the demo's held-out clips under ./demo_output when present."""
    from .gradio_app import MEDIA_TYPES
    from .inference import DEFAULT_DEMO_DIR

    if folder is not None:
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"{folder}: examples folder not found")
    else:
        root = DEFAULT_DEMO_DIR / "data" / "heldout"
        if not root.is_dir():
            return []
    clips = sorted(p for p in root.rglob("*") if p.suffix.lower() in MEDIA_TYPES and p.is_file())
    return clips[:limit]


def run(args) -> int:
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ValueError("gradio is not installed; install the 'serve' extra: pip install -e '.[serve]'") from None
    from .gradio_app import build_app, launch
    from .inference import Describer

    examples = find_examples(args.examples)
    describer = Describer(args.model, device=args.device)
    describer.max_new_tokens = generation_budget(describer.model, args.max_new_tokens)
    app = build_app(describer, examples=examples, model_name=describer.name, max_new_tokens=describer.max_new_tokens)
    allowed = sorted({str(p.parent.resolve()) for p in examples})
    server_log()
    print(f"xemogpt serve: model {describer.name} (explanations up to {describer.max_new_tokens} new tokens); open "
          f"http://{args.host}:{args.port or '<free port>'}/ (Ctrl+C to stop)", flush=True)
    launch(app, host=args.host, port=args.port or None, block=True, allowed_paths=allowed)
    return 0
