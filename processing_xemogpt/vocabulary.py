"""The words this project shares between its parts: modalities, cue dimensions, media file extensions, answer formats.

Every package reads these names from here (``processing_xemogpt.vocabulary``; ``modeling_xemogpt/vocabulary.py`` is
the same file, a symbolic link, because remote code may only import its own package's files: a checkpoint folder
gets one copy of it for the model and the processor alike). User-facing aliases (``--modality both``) live at the
command-line edge only (``xemogpt_cli``); everything below the CLI speaks these names.
"""

from __future__ import annotations

# The modality of a sample or a described clip (paper §III-D3: stage 3 trains on visual-only, audio-only and
# multimodal instruction samples and blocks gradients per sample). The order fixes the integer code a collator may
# send as a tensor (``modality_codes``): 0 multimodal, 1 visual, 2 audio.
MULTIMODAL = "multimodal"
VISUAL = "visual"
AUDIO = "audio"
MODALITIES: tuple[str, ...] = (MULTIMODAL, VISUAL, AUDIO)

# The three cue dimensions of an EmoCue record's ``cues`` and of a JSON answer (paper §IV, §V: EmoCue-360 scores
# precision and recall per dimension). "global" holds the cues of the scene or the whole clip.
CUE_DIMENSIONS: tuple[str, ...] = ("visual", "audio", "global")

# Answer formats (``XEmoGPTConfig.answer_format`` records the one a checkpoint was instruction-tuned with): "text" is
# the paper's free-text explanation; "json" is one object with the cue lists, the emotion and the explanation.
ANSWER_FORMATS: tuple[str, ...] = ("text", "json")
JSON_ANSWER_KEYS: tuple[str, ...] = (*CUE_DIMENSIONS, "emotion", "explanation")

# Media files by extension (lower case, with the dot; the order is the order a builder tries them in). Video containers are decoded by PyAV; audio files by soundfile
# when it reads the format, else by PyAV (processing_xemogpt.audio).
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".flv", ".m4v", ".mpg", ".mpeg", ".ts")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".aac", ".opus", ".oga", ".aiff", ".aif",
                                     ".au", ".w64", ".caf")
MEDIA_EXTENSIONS: tuple[str, ...] = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS


def media_kind(path) -> str | None:
    """``"video"``, ``"audio"`` or ``None`` for a path (str or ``os.PathLike``), from its extension."""
    suffix = str(path).lower().rsplit("/", 1)[-1]
    suffix = suffix[suffix.rfind("."):] if "." in suffix else ""
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    if suffix in AUDIO_EXTENSIONS:
        return "audio"
    return None


def check_modality(modality: str) -> str:
    """``modality`` when it is one of :data:`MODALITIES`, else a one-line ``ValueError``."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
    return modality


def check_answer_format(answer_format: str) -> str:
    """``answer_format`` when it is one of :data:`ANSWER_FORMATS`, else a one-line ``ValueError``."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"unknown answer format {answer_format!r}; choose one of {', '.join(ANSWER_FORMATS)}")
    return answer_format

# The inference pipeline every checkpoint carries (``config.custom_pipelines``): ``transformers.pipeline(model=DIR,
# trust_remote_code=True)`` picks this task and loads the class from the checkpoint's ``pipeline_xemogpt.py``.
PIPELINE_TASK = "video-emotion-explanation"
CUSTOM_PIPELINES = {PIPELINE_TASK: {"impl": "pipeline_xemogpt.XEmoGPTPipeline", "pt": ["AutoModel"],
                                    "type": "multimodal"}}
