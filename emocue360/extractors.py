"""Cue extractors of EmoCue-360 (paper §V-B "Information Extraction"): text -> {"visual", "audio", "global"} lists.

* ``"rules"`` -- :class:`emocue360.rules.RulesExtractor`, offline and deterministic (the default).
* ``"openai"`` -- the paper's LLM extraction through any OpenAI-compatible endpoint (``deepseek-chat`` in the paper).
* ``"hf"`` -- the same task with a local ``transformers`` chat model.

Every extractor has ``name``, ``model`` and ``extract(texts, progress=True) -> list[dict]``. The LLM extractors send
:func:`emocue360.prompts.build_messages` (template 1-5 with the one-shot example), cache every result on disk keyed by
text + extractor + model + template (:mod:`emocue360.cache`), and only then raise if some items failed, so a rerun
sends just the missing ones.
"""

from __future__ import annotations

from typing import Any, Sequence

from .cache import JSONCache, cached_chat_json, make_key
try:  # inside the project: the one LLM client (llm_client), so the metric raises the classes its callers catch
    from llm_client.llm_backends import BackendError, make_backend
except ImportError:  # the metric folder on its own (evaluate's module cache, a Space): the same file beside it
    from .llm_backends import BackendError, make_backend
from .prompts import build_messages, template_ids
from .rules import RulesExtractor

__all__ = ["EXTRACTORS", "KEY_ALIASES", "ExtractionError", "LLMExtractor", "RulesExtractor", "get_extractor",
           "normalize_cues"]

EXTRACTORS = ("rules", "openai", "hf")
# The one alias table of the project: keys an LLM reply, a user file or an EmoCue-Instruct record may use -> this
# package's dimension names (paper §V-A: visual, audio, global). "text" is global: the paper has no text dimension;
# the authors' extraction files a literal subtitle under "auditory" as "Subtitle text: ..." (the official preset
# drops those), and what the words mean is an inference about the state ("His words express frustration"), which is
# a global cue -- as in EmoCue-Instruct's cue prompt ("global: what the words mean in context").
KEY_ALIASES = {
    "visual": "visual", "vision": "visual", "video": "visual", "visual_cues": "visual", "face": "visual",
    "audio": "audio", "auditory": "audio", "acoustic": "audio", "audio_cues": "audio", "auditory_cues": "audio",
    "voice": "audio", "speech": "audio",
    "global": "global", "emotional": "global", "emotion": "global", "emotions": "global", "affective": "global",
    "global_cues": "global", "emotional_cues": "global", "text": "global", "reasoning": "global", "context": "global",
}


class ExtractionError(RuntimeError):
    """Some texts could not be turned into cues (the ones that could are cached)."""


def _item_text(item: Any) -> str | None:
    """A cue from a list item: a string, or a ``{"cue": ...}`` / ``{"text": ...}`` dict some models write."""
    if isinstance(item, dict):
        item = item.get("cue") or item.get("text") or next(
            (v for v in item.values() if isinstance(v, str) and v.strip()), None)
    return " ".join(item.split()) if isinstance(item, str) and item.strip() else None


def normalize_cues(obj: Any, strict: bool = False, split_strings: bool = False, dedupe: bool = False) -> dict:
    """Map an extractor reply or a user-supplied cue dict to ``{"visual": [...], "audio": [...], "global": [...]}``.

    Accepts the authors' keys (``auditory``, ``emotional``) and the other :data:`KEY_ALIASES`, case-insensitively;
    values under aliases of one dimension are concatenated. A string value becomes a one-item list (with
    ``split_strings``, one item per ``;``- or line-separated part, bullets stripped); non-string items are dropped
    (stringified with ``split_strings``). ``dedupe`` drops repeats within a dimension (case-insensitive; the metric
    keeps them, as the authors' scorer does). ``strict`` (user input) raises on unknown keys or non-list values.
    """
    if not isinstance(obj, dict):
        raise TypeError(f"cues must be a dict with visual/audio/global lists, got {type(obj).__name__}")
    out: dict[str, list[str]] = {"visual": [], "audio": [], "global": []}
    for key, value in obj.items():
        dim = KEY_ALIASES.get(str(key).strip().lower())
        if dim is None:
            if strict:
                raise ValueError(f"unknown cue dimension {key!r}; expected visual, audio (auditory) or global "
                                 f"(emotional)")
            continue
        if value is None:
            continue
        if isinstance(value, str):
            value = [p.strip(" -•\t") for p in value.replace("\n", ";").split(";")] if split_strings else [value]
        elif isinstance(value, dict) and split_strings:
            value = list(value.values())
        if not isinstance(value, (list, tuple)):
            if strict:
                raise TypeError(f"cues[{key!r}] must be a list of strings, got {type(value).__name__}")
            continue
        for item in value:
            text = _item_text(item)
            if text is None and split_strings and item is not None and not isinstance(item, (str, dict)):
                text = _item_text(str(item))
            if text is None and strict and not isinstance(item, (str, dict)):
                raise TypeError(f"cues[{key!r}] holds a {type(item).__name__}; cues must be strings")
            if text and not (dedupe and text.lower() in {c.lower() for c in out[dim]}):
                out[dim].append(text)
    return out


class LLMExtractor:
    """Cue extraction with a chat model (paper §V-B), cached on disk.

    Args:
        backend: an object from :mod:`llm_client.llm_backends` (``chat_json_many``, ``name``, ``model``).
        template: prompt template 1-5 (:mod:`emocue360.prompts`).
        cache_dir: cache directory (default :func:`emocue360.cache.default_cache_dir`); ``False`` disables caching.
        max_workers: concurrent requests (OpenAI-compatible backend).
    """

    def __init__(self, backend, template: int = 1, cache_dir=None, max_workers: int | None = None):
        if int(template) not in template_ids():
            raise ValueError(f"unknown prompt template {template!r}; choose one of {template_ids()}")
        self.backend = backend
        self.name = backend.name
        self.model = backend.model
        self.template = int(template)
        self.cache = None if cache_dir is False else JSONCache(cache_dir)
        self.max_workers = max_workers

    def __repr__(self):
        return f"LLMExtractor({self.backend!r}, template={self.template})"

    def key(self, text: str) -> str:
        return make_key(text=text, extractor=self.name, model=self.model, template=self.template)

    def extract(self, texts: Sequence[str], progress: bool = True) -> list[dict]:
        texts = list(texts)
        unique = list(dict.fromkeys(texts))  # one request per distinct text
        keys = [self.key(t) for t in unique]
        convos = [build_messages(t, self.template) for t in unique]
        meta = [{"extractor": self.name, "model": self.model, "template": self.template, "text": t[:200]}
                for t in unique]
        values = cached_chat_json(self.backend, convos, self.cache, keys, max_workers=self.max_workers,
                                  progress=progress, postprocess=normalize_cues, meta=meta)
        errors = [(i, v) for i, v in enumerate(values) if isinstance(v, Exception)]
        if errors:
            i, first = errors[0]
            done = len(unique) - len(errors)
            where = f" ({done} extractions cached in {self.cache.directory})" if self.cache is not None else ""
            raise ExtractionError(f"{self.name} extractor failed on {len(errors)} of {len(unique)} texts{where}; "
                                  f"first error: {first}")
        by_text = dict(zip(unique, values))
        return [by_text[t] for t in texts]


def get_extractor(extractor: Any = "rules", model: str | None = None, template: int = 1, cache_dir=None,
                  max_workers: int | None = None, **backend_kwargs) -> Any:
    """Build an extractor by name (``"rules"``, ``"openai"``, ``"hf"``) or pass an extractor object through.

    ``backend_kwargs`` go to the backend (openai: ``base_url``, ``api_key``, ``timeout``, ``max_retries``, ...;
    hf: ``device``, ``max_new_tokens``, ...). ``None`` values are ignored.
    """
    backend_kwargs = {k: v for k, v in backend_kwargs.items() if v is not None}
    if extractor is None or extractor == "rules":
        return RulesExtractor()
    if not isinstance(extractor, str):
        if not callable(getattr(extractor, "extract", None)):
            raise TypeError(f"extractor must be one of {list(EXTRACTORS)} or an object with .extract(texts), "
                            f"got {type(extractor).__name__}")
        return extractor
    if extractor == "openai":
        if max_workers is not None:
            backend_kwargs.setdefault("max_workers", max_workers)
        backend = make_backend("openai", model=model or "deepseek-chat", **backend_kwargs)
    elif extractor == "hf":
        if not model:
            raise ValueError("the hf extractor needs `model` (a local chat-model directory or Hub id)")
        backend = make_backend("hf", model=model, **backend_kwargs)
    else:
        raise ValueError(f"unknown extractor {extractor!r}; choose one of {list(EXTRACTORS)}")
    return LLMExtractor(backend, template=template, cache_dir=cache_dir, max_workers=max_workers)


__all__ += ["BackendError"]
