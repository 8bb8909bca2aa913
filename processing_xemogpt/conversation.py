"""The XEmoGPT conversation (paper §III-A: ``R = LLM(Z_v, Z_a, T, P)``): chat templates, instructions, messages.

Remote code (copied flat into checkpoints): relative imports only. Two prompt styles (``PROMPT_STYLES``):

* ``"xemogpt"`` (this package's checkpoints): a Qwen-style chat. A user turn holds the clip's media and its text
  items; the chat template renders media first in the paper's order (audio, then video) as ``<audio>`` / ``<video>``
  placeholders, then the subtitle and the instruction, whatever the order of the content items
  (:func:`build_messages`).
* ``"official"`` (checkpoints converted from the authors' release): the prompt of the authors' ``inference.py``,
  character for character: ``###Human: The audio content is as follows: <Audio>[audio]</Audio>. Meanwhile, we
  uniformly sample raw frames from the video: <Video>[video]</Video>. The subtitle of this video is:
  <Subtitle>{subtitle}</Subtitle>. Now, please answer my question based on all the provided information.
  {instruction} ###Assistant: `` with their instruction (:data:`OFFICIAL_INSTRUCTION`), the pad token first (their
  model prepends the pad token's embedding as a BOS) and the answer closed by the eos token
  (:func:`build_official_messages`, :data:`OFFICIAL_CHAT_TEMPLATE`). Their model tokenises the text between the media
  on its own; this template renders ``<audio>`` / ``<video>`` placeholders there instead, which the tokenizer splits
  on first (added tokens), so the ids are the same (tests/processing_xemogpt/test_processing_official.py checks it token by token).
"""

from __future__ import annotations

import os
import re

from .media import MediaError
from .vocabulary import ANSWER_FORMATS, check_answer_format

VIDEO_TOKEN = "<video>"
AUDIO_TOKEN = "<audio>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

# Qwen-style chat template: media placeholders first (audio, then video), then the text items of the message.
XEMOGPT_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for item in message['content'] if item['type'] == 'audio' -%}{{- 'Audio: <audio>\\n' -}}{%- endfor -%}"
    "{%- for item in message['content'] if item['type'] == 'video' -%}{{- 'Video: <video>\\n' -}}{%- endfor -%}"
    "{%- for item in message['content'] if item['type'] == 'text' -%}"
    "{{- item['text'] -}}{%- if not loop.last -%}{{- '\\n' -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# The XEmoGPT authors' prompt ("official" style): their instruction, character for character (newlines, indentation
# and trailing spaces included: the released checkpoint was trained with it), and the user text around the media.
# "<AudioHere>" / "<VideoHere>" stay in the text when that medium is absent, as in the authors' code.
OFFICIAL_INSTRUCTION = (
    "\n                Please describe the speaker's emotional state in the video. "
    "\n                **Output Requirements:**  "
    "\n                Present the synthesized multimodal information in a well-structured paragraph, such as: "
    "'In the video, ... In the audio, ...'. "
    "\n                Conclude the paragraph with an emotion state inference based on all cues. "
    "\n                "
)
OFFICIAL_USER_TEXT = (
    "The audio content is as follows: <Audio>{audio}</Audio>. "
    "Meanwhile, we uniformly sample raw frames from the video: <Video>{video}</Video>. "
    "The subtitle of this video is: <Subtitle>{subtitle}</Subtitle>. "
    "Now, please answer my question based on all the provided information. {instruction}"
)
OFFICIAL_HUMAN = "###Human: "
OFFICIAL_ASSISTANT = " ###Assistant: "
OFFICIAL_AUDIO_ABSENT = "<AudioHere>"
OFFICIAL_VIDEO_ABSENT = "<VideoHere>"

# The authors' template: the pad token (their BOS), "###Human: ", the user's items in their order (media as
# placeholders), " ###Assistant: "; an assistant turn ends with the eos token (their training target: answer + eos).
OFFICIAL_CHAT_TEMPLATE = (
    "{{- pad_token -}}"
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'user' -%}{{- '###Human: ' -}}"
    "{%- elif message['role'] == 'assistant' -%}{{- ' ###Assistant: ' -}}{%- endif -%}"
    "{%- if message['content'] is string -%}"
    "{{- message['content'] -}}"
    "{%- else -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'audio' -%}{{- '<audio>' -}}"
    "{%- elif item['type'] == 'video' -%}{{- '<video>' -}}"
    "{%- else -%}{{- item['text'] -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{{- eos_token -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- ' ###Assistant: ' -}}{%- endif -%}"
)

PROMPT_STYLES = ("xemogpt", "official")
CHAT_TEMPLATES = {"xemogpt": XEMOGPT_CHAT_TEMPLATE, "official": OFFICIAL_CHAT_TEMPLATE}

# The instruction of each sample modality (§III-D3: visual-only, audio-only and multimodal pairs), keyed by the
# model's modality names (modeling_xemogpt.MODALITIES), plus "text" for a prompt without media.
INSTRUCTIONS = {
    "multimodal": "Please infer the person's emotional state and explain the visual and audio cues.",
    "visual": "Please infer the person's emotional state and explain the visual cues.",
    "audio": "Please infer the person's emotional state and explain the audio cues.",
    "text": "Please infer the person's emotional state.",
}


JSON_ANSWER_INSTRUCTION = (
    ' Answer with one JSON object: {"visual": [visual cues], "audio": [audio cues], "global": [global cues], '
    '"emotion": "the emotion", "explanation": "the explanation"}.'
)


def instruction_for(modality: str, answer_format: str = "text") -> str:
    """The instruction of a sample of ``modality`` that asks for an answer in ``answer_format``."""
    if modality not in INSTRUCTIONS:
        raise ValueError(f"modality must be one of {', '.join(INSTRUCTIONS)}, got {modality!r}")
    check_answer_format(answer_format)
    return INSTRUCTIONS[modality] + (JSON_ANSWER_INSTRUCTION if answer_format == "json" else "")


def is_pathlike(x) -> bool:
    return isinstance(x, (str, os.PathLike))


def _media_item(kind: str, value) -> dict:
    if is_pathlike(value):
        return {"type": kind, "path": os.fspath(value)}
    return {"type": kind, kind: value}


def build_messages(video=None, audio=None, subtitle=None, instruction=None, answer=None, modality=None,
                   answer_format: str = "text") -> list[dict]:
    """The standard XEmoGPT conversation (audio, video, subtitle, instruction [, answer]).

    ``video``/``audio``: a path or an array (or None to leave the modality out). ``modality`` ("visual" | "audio" |
    "multimodal") picks the default instruction; without it the instruction follows the media given;
    ``answer_format`` (a checkpoint's ``config.answer_format``) adds the JSON request to it. With ``answer`` the
    conversation ends with the assistant's message (a training example).
    """
    if instruction is None:
        if modality is None:
            modality = (
                "multimodal" if video is not None and audio is not None
                else "visual" if video is not None
                else "audio" if audio is not None
                else "text"
            )
        instruction = instruction_for(modality, answer_format)
    content = []
    if audio is not None:
        content.append(_media_item("audio", audio))
    if video is not None:
        content.append(_media_item("video", video))
    text = instruction if not subtitle else f"The subtitle is: {subtitle}\n{instruction}"
    content.append({"type": "text", "text": text})
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": str(answer)}]})
    return messages


def build_official_messages(video=None, audio=None, subtitle=None, instruction=None, answer=None, modality=None,
                            answer_format: str = "text") -> list[dict]:
    """The XEmoGPT authors' conversation ("official" prompt style, rendered by :data:`OFFICIAL_CHAT_TEMPLATE`).

    The user turn is :data:`OFFICIAL_USER_TEXT` as content items: text, the audio (or the literal ``<AudioHere>``
    when ``audio`` is None), text, the video (or ``<VideoHere>``), text. Absent media are kept as the authors' code
    leaves them (their placeholder text stays in the prompt), so a converted checkpoint sees what it saw in training.
    ``subtitle`` None renders an empty subtitle. ``instruction`` defaults to :data:`OFFICIAL_INSTRUCTION` for every
    modality (the authors use one instruction; ``modality`` is only checked); ``answer_format="json"`` adds the JSON
    request to it. With ``answer`` the conversation ends with the assistant's message (a training example).
    """
    if modality is not None and modality not in INSTRUCTIONS:
        raise ValueError(f"modality must be one of {', '.join(INSTRUCTIONS)}, got {modality!r}")
    check_answer_format(answer_format)
    if instruction is None:
        instruction = OFFICIAL_INSTRUCTION + (JSON_ANSWER_INSTRUCTION if answer_format == "json" else "")
    before_audio, rest = OFFICIAL_USER_TEXT.split("{audio}")
    before_video, rest = rest.split("{video}")
    after_video = rest.format(subtitle="" if subtitle is None else str(subtitle), instruction=instruction)
    items = [before_audio, _media_item("audio", audio) if audio is not None else OFFICIAL_AUDIO_ABSENT,
             before_video, _media_item("video", video) if video is not None else OFFICIAL_VIDEO_ABSENT, after_video]
    content = []
    for item in items:  # adjacent text pieces as one text item
        if isinstance(item, str) and content and content[-1]["type"] == "text":
            content[-1]["text"] += item
        else:
            content.append({"type": "text", "text": item} if isinstance(item, str) else item)
    messages = [{"role": "user", "content": content}]
    if answer is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": str(answer)}]})
    return messages


def messages_for_style(prompt_style: str, **kwargs) -> list[dict]:
    """The conversation of a prompt style: :func:`build_messages` (``"xemogpt"``) or :func:`build_official_messages`
    (``"official"``), with the same keyword arguments."""
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {prompt_style!r}")
    return (build_official_messages if prompt_style == "official" else build_messages)(**kwargs)


def normalize_conversations(conversation) -> tuple[list[list[dict]], bool]:
    """``(conversations, is_batched)`` of one conversation (a list of messages) or a batch of them."""
    if isinstance(conversation, dict) and "messages" in conversation:
        return [conversation["messages"]], False
    if not isinstance(conversation, (list, tuple)) or not conversation:
        raise ValueError("conversation must be a non-empty list of messages or a list of conversations")
    first = conversation[0]
    if isinstance(first, dict) and "role" in first:
        return [list(conversation)], False
    if isinstance(first, (list, tuple)) or (isinstance(first, dict) and "messages" in first):
        return [c["messages"] if isinstance(c, dict) else list(c) for c in conversation], True
    raise ValueError("conversation must be a list of {'role', 'content'} messages or a list of such lists")


def split_conversation(messages: list[dict]) -> tuple[list[dict], list, list]:
    """``(messages for the template without media payloads, videos, audios)``, media in template order."""
    clean, videos, audios = [], [], []
    for m in messages:
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"each message must be a dict with 'role' and 'content', got {m!r:.80}")
        content = m.get("content", "")
        if isinstance(content, str) or content is None:
            clean.append({"role": m["role"], "content": content or ""})
            continue
        items, m_audio, m_video = [], [], []
        for item in content:
            if isinstance(item, str):
                item = {"type": "text", "text": item}
            kind = item.get("type")
            if kind in ("video", "audio"):
                value = next((item[k] for k in ("path", kind, "url", "array") if item.get(k) is not None), None)
                if value is None:
                    raise MediaError(f"{kind} item without 'path' or '{kind}': {item!r:.80}")
                if isinstance(value, str) and value.startswith("file://"):
                    value = value[len("file://"):]
                if isinstance(value, str) and re.match(r"^https?://", value):
                    raise MediaError(f"{value}: remote URLs are not supported; download the file first")
                (m_video if kind == "video" else m_audio).append(value)
                items.append({"type": kind})
            elif kind == "text":
                items.append({"type": "text", "text": str(item.get("text", ""))})
            else:
                raise ValueError(f"unsupported content item type {kind!r} (use 'video', 'audio' or 'text')")
        audios.extend(m_audio)  # the template renders audio before video inside a message
        videos.extend(m_video)
        clean.append({"role": m["role"], "content": items})
    return clean, videos, audios


def message_text(message: dict) -> str:
    """The text of one message (a string, or the concatenated text items of its content)."""
    content = message.get("content")
    if isinstance(content, str) or content is None:
        return content or ""
    return "".join(it.get("text", "") for it in content if isinstance(it, dict) and it.get("type") == "text")


__all__ = [
    "VIDEO_TOKEN", "AUDIO_TOKEN", "IM_START", "IM_END", "XEMOGPT_CHAT_TEMPLATE", "INSTRUCTIONS", "build_messages",
    "ANSWER_FORMATS", "JSON_ANSWER_INSTRUCTION", "instruction_for",
    "normalize_conversations", "split_conversation", "message_text", "is_pathlike",
    "PROMPT_STYLES", "CHAT_TEMPLATES", "OFFICIAL_CHAT_TEMPLATE", "OFFICIAL_INSTRUCTION", "OFFICIAL_USER_TEXT",
    "build_official_messages", "messages_for_style",
]
