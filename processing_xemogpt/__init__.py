"""XEmoGPT processor package (remote code: copied flat into checkpoints; relative imports only).

Importing the package also registers the inference pipeline (:class:`XEmoGPTPipeline`, task
``"video-emotion-explanation"``) with transformers for this process, as ``modeling_xemogpt`` registers its Auto
classes: ``transformers.pipeline("video-emotion-explanation", model=model, processor=processor)`` wraps loaded objects
(a checkpoint directory names the pipeline itself: ``pipeline(model=DIR, trust_remote_code=True)``).
"""

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

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
from .answer import ParsedAnswer, parse_answer
from .media import FRAME_SAMPLING_RULES, MediaError, load_video_frames
from .pipeline_xemogpt import XEmoGPTPipeline
from .processing_xemogpt import (
    PAPER_COMPONENTS,
    XEmoGPTProcessor,
    XEmoGPTProcessorKwargs,
    hubert_output_length,
)
from .probe import media_duration, probe_streams
from .video_processing_xemogpt import XEmoGPTVideoProcessor
from .vocabulary import PIPELINE_TASK

PIPELINE_REGISTRY.register_pipeline(PIPELINE_TASK, pipeline_class=XEmoGPTPipeline, pt_model=AutoModel,
                                    type="multimodal")

__all__ = [
    "XEmoGPTProcessor",
    "XEmoGPTProcessorKwargs",
    "XEmoGPTVideoProcessor",
    "XEmoGPTPipeline",
    "PIPELINE_TASK",
    "ParsedAnswer",
    "parse_answer",
    "probe_streams",
    "media_duration",
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
