"""Chat-model backends that return JSON objects: the project's LLM client (:mod:`llm_client`), used by EmoCue-360's LLM
cue extractors (paper §V-B) and the EmoCue-Instruct data pipeline (paper §IV).

Stable API (other parts of the project import it; keep it small):

* ``backend.chat_json(messages) -> dict`` -- send OpenAI-style chat ``messages`` (a list of
  ``{"role": ..., "content": ...}``) and return the reply parsed as a JSON object. Malformed JSON is repaired when
  possible, otherwise the request is retried with a short correction; after ``json_retries`` failures a
  :class:`JSONReplyError` is raised.
* ``backend.chat_json_many(list_of_messages, max_workers=None, progress=True, on_result=None) -> list[dict | Exception]``
  -- the same for many conversations with bounded concurrency; exceptions are returned in place, not raised, so one
  bad item does not lose the others; ``on_result(index, value)`` is called as each finishes (e.g. to write a cache).
* ``backend.name`` (``"openai"`` / ``"hf"``) and ``backend.model`` (the model name; part of cache keys).
* :func:`make_backend` builds one by name; :func:`parse_json_reply` is the tolerant JSON parser.
* For tests, :class:`emocue360.testing.FakeChatServer` plays an OpenAI-compatible endpoint on 127.0.0.1.

Backends:

* :class:`OpenAIChatBackend` -- any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, DeepSeek, vLLM, llama.cpp
  server, ...) through ``httpx``: JSON mode (``response_format={"type": "json_object"}``), a per-request timeout,
  retries with exponential backoff and jitter on 429 / 5xx / connection errors / timeouts (``Retry-After`` honoured),
  and one clear :class:`BackendError` when the endpoint stays unreachable.
* :class:`TransformersChatBackend` -- a local ``transformers`` chat model (greedy decoding with its chat template).
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any, Callable, Protocol, Sequence

__all__ = [
    "BackendError",
    "JSONReplyError",
    "ChatBackend",
    "OpenAIChatBackend",
    "TransformersChatBackend",
    "make_backend",
    "parse_json_reply",
]

Messages = list  # list[dict[str, str]]

JSON_CORRECTION = (
    "Your previous reply was not a valid JSON object. Reply again with only the JSON object, "
    "no prose and no code fences."
)


class BackendError(RuntimeError):
    """The chat backend could not produce a reply (endpoint unreachable, HTTP error, bad response)."""


class JSONReplyError(BackendError):
    """The model replied, but not with a JSON object, even after repair and retries."""


class ChatBackend(Protocol):
    name: str
    model: str

    def chat_json(self, messages: Messages) -> dict: ...

    def chat_json_many(self, conversations: Sequence[Messages], max_workers: int | None = None,
                       progress: bool = True, on_result: Callable[[int, Any], None] | None = None) -> list: ...


# ----------------------------------------------------------------------------------------------------------------
# JSON parsing and repair
# ----------------------------------------------------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _first_object(text: str) -> str | None:
    """The first balanced ``{...}`` in ``text`` (string-aware), or None."""
    start = text.find("{")
    while start != -1:
        depth, in_str, esc = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i + 1]
        start = text.find("{", start + 1)
    return None


def parse_json_reply(text: str) -> dict:
    """Parse a model reply into a JSON object, repairing the usual defects.

    Tried in order: the text as is; the content of a ```json fence; the first balanced ``{...}``; each of those with
    trailing commas removed; a truncated object closed with the missing ``"]}``. Raises :class:`JSONReplyError`
    (one line, with the start of the reply) when nothing parses to a dict.
    """
    if not isinstance(text, str):
        raise JSONReplyError(f"reply is {type(text).__name__}, not text")
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    obj = _first_object(text)
    if obj:
        candidates.append(obj)
    candidates += [_TRAILING_COMMA.sub(r"\1", c) for c in list(candidates)]
    # a reply cut off by max_tokens: close the open list and object
    tail = text[text.find("{"):] if "{" in text else ""
    if tail:
        for closer in ('"]}', "]}", "}", '"]]}'):
            candidates.append(tail.rstrip().rstrip(",") + closer)
    for cand in candidates:
        try:
            value = json.loads(cand)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            return value
    snippet = " ".join(text.split())[:80]
    raise JSONReplyError(f"reply is not a JSON object: {snippet!r}")


def _progress(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled or total < 2, leave=False)


class _JSONChatMixin:
    """Shared by the backends: ``chat_json`` on top of ``chat_text``, and ``chat_json_many``."""

    max_workers: int = 1
    json_retries: int = 1

    def _where(self) -> str:
        return str(self.model)

    def chat_json(self, messages: Messages) -> dict:
        """Chat completion parsed as a JSON object: repair, then up to ``json_retries`` re-asks with a correction."""
        convo = list(messages)
        err: Exception | None = None
        for _ in range(self.json_retries + 1):
            text = self.chat_text(convo)
            try:
                return parse_json_reply(text)
            except JSONReplyError as exc:
                err = exc
                self._on_bad_json()
                convo = list(messages) + [{"role": "assistant", "content": text},
                                          {"role": "user", "content": JSON_CORRECTION}]
        raise JSONReplyError(f"{self._where()}: {err} (after {self.json_retries + 1} tries)")

    def _on_bad_json(self):
        pass

    def chat_json_many(self, conversations: Sequence[Messages], max_workers: int | None = None,
                       progress: bool = True, on_result: Callable[[int, Any], None] | None = None) -> list:
        """Run :meth:`chat_json` on many conversations with at most ``max_workers`` in flight.

        Returns one entry per conversation, in order: the dict, or the exception raised for it (not raised, so
        one bad item loses nothing else). ``on_result(index, value)`` is called as each one finishes.
        """
        workers = max(1, int(max_workers or self.max_workers))
        results: list = [None] * len(conversations)
        bar = _progress(len(conversations), f"{self.name}:{self.model}", progress)
        try:
            for i, value in self._iter_results(conversations, workers):
                results[i] = value
                if on_result:
                    on_result(i, value)
                bar.update(1)
        finally:
            bar.close()
        return results

    def _safe_chat_json(self, messages: Messages):
        try:
            return self.chat_json(messages)
        except Exception as exc:  # returned in place
            return exc

    def _iter_results(self, conversations: Sequence[Messages], workers: int):
        """Yield (index, dict or exception) as the conversations finish."""
        if workers == 1:
            for i, messages in enumerate(conversations):
                yield i, self._safe_chat_json(messages)
            return
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(self._safe_chat_json, m): i for i, m in enumerate(conversations)}
            for fut in as_completed(futures):
                yield futures[fut], fut.result()


# ----------------------------------------------------------------------------------------------------------------
# OpenAI-compatible HTTP backend
# ----------------------------------------------------------------------------------------------------------------
class OpenAIChatBackend(_JSONChatMixin):
    """An OpenAI-compatible chat-completions endpoint that is asked for JSON objects.

    Args:
        model: the model name sent to the endpoint (the paper used ``deepseek-chat``).
        base_url: the API root, e.g. ``https://api.deepseek.com`` or ``http://127.0.0.1:8000/v1``;
            ``/chat/completions`` is appended. Default: ``$OPENAI_BASE_URL`` or ``https://api.openai.com/v1``.
        api_key: bearer token. Default: ``$OPENAI_API_KEY`` (none is sent when empty: local servers).
        timeout: seconds per request (connect + read).
        max_retries: extra attempts after the first on 429 / 5xx / connection errors / timeouts.
        backoff: first back-off in seconds, doubled each retry (with ±25 % jitter), capped by ``max_backoff``;
            a ``Retry-After`` header overrides it.
        json_retries: extra requests when the reply is not JSON even after repair (a correction turn is appended).
        json_mode: send ``response_format={"type": "json_object"}``.
        temperature, max_tokens, extra_body: passed through in the request body.
        max_workers: default concurrency of :meth:`chat_json_many`.
    """

    name = "openai"
    RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})

    def __init__(self, model: str = "deepseek-chat", base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 5, backoff: float = 1.0, max_backoff: float = 30.0,
                 json_retries: int = 2, json_mode: bool = True, temperature: float | None = 0.0,
                 max_tokens: int | None = None, extra_body: dict | None = None, max_workers: int = 8,
                 headers: dict | None = None):
        import httpx

        if not model or not isinstance(model, str):
            raise ValueError("openai backend: `model` must be a non-empty string (e.g. 'deepseek-chat')")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1").rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.max_backoff = float(max_backoff)
        self.json_retries = int(json_retries)
        self.json_mode = bool(json_mode)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.extra_body = dict(extra_body or {})
        self.max_workers = int(max_workers)
        hdrs = {"Content-Type": "application/json"}
        if self.api_key:
            hdrs["Authorization"] = f"Bearer {self.api_key}"
        hdrs.update(headers or {})
        self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), headers=hdrs,
                                    limits=httpx.Limits(max_connections=max(8, self.max_workers)))
        self._httpx = httpx
        self._lock = threading.Lock()
        self.stats = {"requests": 0, "retries": 0, "json_repairs": 0}

    def close(self):
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"OpenAIChatBackend(model={self.model!r}, base_url={self.base_url!r})"

    def _count(self, key):
        with self._lock:
            self.stats[key] += 1

    def _sleep_for(self, attempt: int, response=None) -> float:
        if response is not None:
            ra = response.headers.get("retry-after")
            if ra:
                try:
                    return min(float(ra), self.max_backoff)
                except ValueError:
                    pass
        base = min(self.backoff * (2 ** attempt), self.max_backoff)
        return base * random.uniform(0.75, 1.25)

    def chat_text(self, messages: Messages) -> str:
        """One chat completion with retries; returns the assistant message content."""
        body = {"model": self.model, "messages": list(messages), "stream": False}
        if self.temperature is not None:
            body["temperature"] = self.temperature
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.json_mode:
            body["response_format"] = {"type": "json_object"}
        body.update(self.extra_body)
        last = "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count("retries")
            self._count("requests")
            response = None
            try:
                response = self._client.post(self.url, json=body)
            except self._httpx.TimeoutException:
                last = f"timed out after {self.timeout:g} s"
            except self._httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    try:
                        data = response.json()
                        content = data["choices"][0]["message"]["content"]
                    except (ValueError, KeyError, IndexError, TypeError) as exc:
                        raise BackendError(f"openai endpoint {self.url} returned an unexpected body "
                                           f"({type(exc).__name__}): {response.text[:120]!r}") from None
                    if content is None:
                        raise BackendError(f"openai endpoint {self.url} returned an empty message")
                    return content
                if response.status_code not in self.RETRY_STATUS:
                    raise BackendError(f"openai endpoint {self.url} answered HTTP {response.status_code}: "
                                       f"{' '.join(response.text.split())[:160]}")
                last = f"HTTP {response.status_code}"
            if attempt < self.max_retries:
                time.sleep(self._sleep_for(attempt, response))
        raise BackendError(f"openai endpoint {self.url} unreachable after {self.max_retries + 1} attempts "
                           f"(last: {last})")

    def _where(self) -> str:
        return f"{self.model} at {self.url}"

    def _on_bad_json(self):
        self._count("json_repairs")


# ----------------------------------------------------------------------------------------------------------------
# Local transformers backend
# ----------------------------------------------------------------------------------------------------------------
class TransformersChatBackend(_JSONChatMixin):
    """A local ``transformers`` causal chat model, decoded greedily through its chat template.

    Args:
        model: a model id / local directory, or an already loaded ``PreTrainedModel``.
        tokenizer: the tokenizer (loaded from ``model`` when it is a path/id).
        device: ``"cpu"``, ``"cuda"``, ... (default: cuda when available).
        max_new_tokens: generation budget per reply.
        json_retries: re-asks when the reply is not JSON (with a correction turn).
        batch_size: conversations generated together in :meth:`chat_json_many` (left padding).
    """

    name = "hf"

    def __init__(self, model, tokenizer=None, device: str | None = None, max_new_tokens: int = 512,
                 json_retries: int = 1, torch_dtype="auto", batch_size: int = 4, trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if isinstance(model, str):
            self.model = model
            try:
                self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
                self.lm = AutoModelForCausalLM.from_pretrained(model, dtype=torch_dtype,
                                                               trust_remote_code=trust_remote_code)
            except (OSError, ValueError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise BackendError(f"hf backend: cannot load chat model {model!r}: {first}") from None
        else:
            if tokenizer is None:
                raise ValueError("hf backend: pass `tokenizer` together with a loaded model")
            self.lm, self.tokenizer = model, tokenizer
            self.model = getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__
        self.lm.to(device).eval()
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.json_retries = int(json_retries)
        self.batch_size = int(batch_size)
        self.max_workers = 1
        if getattr(self.tokenizer, "chat_template", None) is None:
            raise BackendError(f"hf backend: tokenizer of {self.model!r} has no chat template")

    def __repr__(self):
        return f"TransformersChatBackend(model={self.model!r}, device={self.device!r})"

    def _generate(self, conversations: Sequence[Messages]) -> list[str]:
        import torch

        prompts = [self.tokenizer.apply_chat_template(list(m), tokenize=False, add_generation_prompt=True)
                   for m in conversations]
        side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        try:
            enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        finally:
            self.tokenizer.padding_side = side
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.no_grad():
            out = self.lm.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False,
                                   pad_token_id=self.tokenizer.pad_token_id)
        new = out[:, enc["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    def chat_text(self, messages: Messages) -> str:
        return self._generate([messages])[0]

    def _where(self) -> str:
        return f"hf model {self.model}"

    def _iter_results(self, conversations: Sequence[Messages], workers: int):
        """Batched greedy generation; items whose reply is not JSON are re-asked one by one."""
        for s in range(0, len(conversations), self.batch_size):
            idx = list(range(s, min(s + self.batch_size, len(conversations))))
            try:
                texts = self._generate([conversations[i] for i in idx])
            except Exception as exc:
                texts = [exc] * len(idx)
            for i, text in zip(idx, texts):
                if isinstance(text, Exception):
                    yield i, text
                    continue
                try:
                    yield i, parse_json_reply(text)
                except JSONReplyError:
                    yield i, self._safe_chat_json(conversations[i])


def make_backend(kind: str, model: str | None = None, **kwargs) -> ChatBackend:
    """Build a backend by name: ``"openai"`` (any OpenAI-compatible endpoint) or ``"hf"`` (local transformers)."""
    if kind == "openai":
        return OpenAIChatBackend(model=model or "deepseek-chat", **kwargs)
    if kind == "hf":
        if not model:
            raise ValueError("hf backend: pass `model` (a local chat-model directory or id)")
        return TransformersChatBackend(model, **kwargs)
    raise ValueError(f"unknown chat backend {kind!r}; expected 'openai' or 'hf'")
