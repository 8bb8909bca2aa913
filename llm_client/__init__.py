"""The project's LLM client: chat models that answer with JSON objects, shared by the EmoCue-360 metric's LLM cue
extractors (:mod:`emocue360.extractors`) and the EmoCue-Instruct data pipeline (:mod:`training.data.emocue_instruct`).

The client lives in :mod:`llm_client.llm_backends` (``OpenAIChatBackend``, ``TransformersChatBackend``,
``make_backend``, ``parse_json_reply``, ``BackendError``, ``JSONReplyError``). ``emocue360/llm_backends.py`` is the
same file (a symbolic link), because the metric folder must also work on its own — loaded by ``evaluate`` from its
module cache or published as a Space, it imports its siblings only; inside the project everything imports it from
here, so there is one set of classes (an error raised by the metric is the ``BackendError`` the CLI catches).
"""

from .llm_backends import (
    BackendError,
    ChatBackend,
    JSONReplyError,
    OpenAIChatBackend,
    TransformersChatBackend,
    make_backend,
    parse_json_reply,
)

__all__ = [
    "BackendError",
    "ChatBackend",
    "JSONReplyError",
    "OpenAIChatBackend",
    "TransformersChatBackend",
    "make_backend",
    "parse_json_reply",
]
