"""XEmoGPT processor package (remote code: copied flat into checkpoints; relative imports only)."""

from .audio import load_audio
from .components import is_local_path
from .conversation import (
    ANSWER_FORMATS,
    INSTRUCTIONS,
    JSON_ANSWER_INSTRUCTION,
    OFFICIAL_CHAT_TEMPLATE,
    OFFICIAL_INSTRUCTION,
    PROMPT_STYLES,
    XEMOGPT_CHAT_TEMPLATE,
    build_messages,
    build_official_messages,
    instruction_for,
)
from .media import FRAME_SAMPLING_RULES, MediaError, load_video_frames
from .processing_xemogpt import (
    PAPER_COMPONENTS,
    XEmoGPTProcessor,
    XEmoGPTProcessorKwargs,
    hubert_output_length,
)
from .video_processing_xemogpt import XEmoGPTVideoProcessor

__all__ = [
    "XEmoGPTProcessor",
    "XEmoGPTProcessorKwargs",
    "XEmoGPTVideoProcessor",
    "build_messages",
    "build_official_messages",
    "PROMPT_STYLES",
    "OFFICIAL_CHAT_TEMPLATE",
    "OFFICIAL_INSTRUCTION",
    "FRAME_SAMPLING_RULES",
    "hubert_output_length",
    "is_local_path",
    "load_video_frames",
    "load_audio",
    "MediaError",
    "XEMOGPT_CHAT_TEMPLATE",
    "INSTRUCTIONS",
    "ANSWER_FORMATS",
    "JSON_ANSWER_INSTRUCTION",
    "instruction_for",
    "PAPER_COMPONENTS",
]
