"""Load an XEmoGPT model + processor for the CLI and describe clips through the checkpoint's pipeline
(:class:`processing_xemogpt.XEmoGPTPipeline`): what ``xemogpt describe``, ``xemogpt serve`` and ``xemogpt demo`` share.

Which model is used (:func:`resolve_model`):

1. ``--model DIR_OR_ID`` when given (a local checkpoint directory or a Hub id, loaded with
   ``AutoModel/AutoProcessor.from_pretrained(..., trust_remote_code=True)``);
2. otherwise the ``XEMOGPT_MODEL`` environment variable;
3. otherwise the demo's trained checkpoint ``./demo_output/checkpoint`` (what ``xemogpt demo`` writes by default)
   when it exists in the current directory;
4. otherwise the untrained ``"tiny"`` preset built offline from random weights (seeded, so its output is
   reproducible; it only shows the pipeline works — its explanations are noise).

Modality: ``"both"`` uses the clip's video and its audio stream when it has one (an audio-less video becomes
visual-only, an audio file audio-only); ``"visual"`` / ``"audio"`` insist on that stream and fail with a one-line
error naming the file when it is missing.

Answer format: the pipeline's prompt asks for the answer the checkpoint was instruction-tuned to write
(``config.answer_format``, ``"text"`` or ``"json"``) and reads it back (:func:`processing_xemogpt.parse_answer`); for
text answers the CLI adds the cues and the emotion that EmoCue-360's offline rules extractor finds.
Datasets, folders, long videos and several processes: :mod:`xemogpt_cli.describe_run`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from processing_xemogpt.pipeline_xemogpt import DECODINGS
from processing_xemogpt.vocabulary import CUE_DIMENSIONS

DEFAULT_DEMO_DIR = Path("demo_output")
DEFAULT_CHECKPOINT = DEFAULT_DEMO_DIR / "checkpoint"
MODEL_ENV = "XEMOGPT_MODEL"
TINY = "tiny"  # the name that selects the untrained tiny preset

MODALITIES = ("both", "visual", "audio")  # the CLI's choices; "both" is the vocabulary's "multimodal"
# words of the extractor's emotion vocabulary that name no emotion by themselves
_GENERIC_EMOTION_WORDS = {"emotion", "emotions", "emotional", "mood", "moods", "feel", "feels", "feeling", "feelings",
                          "felt", "attitude", "state", "positive", "negative", "interesting"}


@dataclass
class Description:
    """One described clip, as the app shows it: the model's own cues (JSON answers) or those the offline rules
    extractor finds in the explanation (text answers)."""

    clip: str
    modality: str  # the modality actually used: "multimodal" | "visual" | "audio"
    explanation: str
    emotion: str | None = None
    cues: dict = field(default_factory=lambda: {"visual": [], "audio": [], "global": []})
    frames: list = field(default_factory=list)  # PIL images of the sampled frames (empty for audio-only)
    answer_format: str = "text"
    invalid_json: bool = False
    spans: dict | None = None  # per-cue time spans the model wrote (JSON answers; training/data/spans.py)

    def to_json(self) -> dict:
        out = asdict(self)
        out.pop("frames")
        return out


# ------------------------------------------------------------------------------------------------ model loading
def resolve_model(model: str | os.PathLike | None) -> str:
    """The model to load: ``model``, else ``$XEMOGPT_MODEL``, else ``./demo_output/checkpoint``, else ``"tiny"``."""
    if model:
        return str(model)
    env = os.environ.get(MODEL_ENV)
    if env:
        return env
    if (DEFAULT_CHECKPOINT / "config.json").is_file():
        return str(DEFAULT_CHECKPOINT)
    return TINY


def answer_format_of(name: str) -> str:
    """The answer format a model (a :func:`resolve_model` name) was instruction-tuned to write, from its config alone
    (no weights loaded): ``config.answer_format``, "text" when absent."""
    if name == TINY:
        return "text"
    path = Path(name).expanduser()
    if (path / "config.json").is_file():
        import json

        return json.loads((path / "config.json").read_text()).get("answer_format") or "text"
    from processing_xemogpt import is_local_path

    if path.exists() or is_local_path(name):
        return "text"  # not a checkpoint: loading it reports the problem
    from transformers import AutoConfig

    try:
        return getattr(AutoConfig.from_pretrained(name, trust_remote_code=True), "answer_format", None) or "text"
    except OSError:
        return "text"


def build_tiny(seed: int = 0):
    """The untrained tiny preset (random weights, seeded) and its processor, built offline."""
    import torch

    from modeling_xemogpt import XEmoGPTConfig, XEmoGPTForConditionalGeneration
    from processing_xemogpt import XEmoGPTProcessor

    torch.manual_seed(seed)
    model = XEmoGPTForConditionalGeneration(XEmoGPTConfig.from_preset("tiny"))
    processor = XEmoGPTProcessor.from_preset("tiny")
    return model, processor


def load_model_and_processor(model: str | os.PathLike | None = None, device: str = "cpu", seed: int = 0):
    """Return ``(model, processor, name)`` for :func:`resolve_model`'s choice, in eval mode on ``device``."""
    from processing_xemogpt import is_local_path

    name = resolve_model(model)
    if name == TINY:
        mdl, proc = build_tiny(seed)
    else:
        path = Path(name).expanduser()
        if path.exists():
            if not path.is_dir():
                raise ValueError(f"{name}: --model must be a checkpoint directory or a Hub id, not a file")
            if not (path / "config.json").is_file():
                raise FileNotFoundError(f"{name}: not a model checkpoint (no config.json); "
                                        "train one with `xemogpt demo` or pass a Hub id")
            name = str(path)
        elif is_local_path(name):
            raise FileNotFoundError(f"{name}: model directory not found")
        from transformers import AutoModel, AutoProcessor

        try:
            mdl = AutoModel.from_pretrained(name, trust_remote_code=True)
            proc = AutoProcessor.from_pretrained(name, trust_remote_code=True)
        except OSError as exc:  # not found offline / not a checkpoint
            first = " ".join(str(exc).split())[:300]
            raise ValueError(f"{name}: cannot load the model ({first})") from None
    mdl.to(device)
    mdl.eval()
    return mdl, proc, name


# ------------------------------------------------------------------------------------------------ modality
def choose_modality(path: str | os.PathLike, modality: str = "both") -> str:
    """The modality fed for this file ("multimodal" | "visual" | "audio") for the CLI's choice ("both" is the
    vocabulary's "multimodal"); a one-line error naming the file when the stream asked for is missing."""
    from processing_xemogpt import probe_streams
    from processing_xemogpt.pipeline_xemogpt import choose_modality as choose

    return choose(path, *probe_streams(path), modality_name(modality))


def modality_name(modality: str) -> str:
    """The vocabulary's name of a CLI modality choice (``"both"`` -> ``"multimodal"``)."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
    return "multimodal" if modality == "both" else modality


def extract_cues(text: str) -> dict:
    """Visual/audio/global cues of an explanation with EmoCue-360's offline rules extractor."""
    from emocue360.rules import extract_cues_rules

    cues = extract_cues_rules(text or "")
    return {k: list(cues.get(k, [])) for k in CUE_DIMENSIONS}


def emotion_from_cues(cues: dict) -> str | None:
    """The first emotion word (of the extractor's vocabulary) in the global cues, or None."""
    from emocue360.rules import EMOTION_WORDS

    globals_ = list(cues.get("global", []))
    for cue in globals_:
        for word in cue.lower().replace(",", " ").split():
            if word in EMOTION_WORDS and word not in _GENERIC_EMOTION_WORDS:
                return word
    return None


# ------------------------------------------------------------------------------------------------ describing
class Describer:
    """Describe clips with one loaded model through its :class:`~processing_xemogpt.XEmoGPTPipeline`
    (``self.pipeline``): ``Describer(model).describe("clip.mp4")``; the CLI's choices ("both") and the offline rules
    extractor's cues for text answers are added here."""

    DECODINGS = DECODINGS

    def __init__(self, model: str | os.PathLike | None = None, *, device: str = "cpu", max_new_tokens: int = 128,
                 seed: int = 0, loaded: tuple | None = None, decoding: str = "greedy"):
        """``decoding``: ``"greedy"`` (deterministic, the default) or ``"checkpoint"`` (the model's own
        ``generation_config.json``, e.g. the authors' beam-5 sampling in a converted release)."""
        from processing_xemogpt import XEmoGPTPipeline

        if decoding not in self.DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(self.DECODINGS)}, got {decoding!r}")
        self.decoding = decoding
        if loaded is not None:
            model_obj, processor = loaded[0], loaded[1]
            self.name = loaded[2] if len(loaded) > 2 else type(model_obj).__name__
            device = str(getattr(model_obj, "device", device))
        else:
            model_obj, processor, self.name = load_model_and_processor(model, device=device, seed=seed)
        self.pipeline = XEmoGPTPipeline(model=model_obj, processor=processor, device=device)
        self.max_new_tokens = int(max_new_tokens)
        self.min_new_tokens = 1  # benchmarks set it to max_new_tokens: every answer the same length

    model = property(lambda self: self.pipeline.model)
    processor = property(lambda self: self.pipeline.processor)
    answer_format = property(lambda self: self.pipeline.answer_format, doc="The checkpoint's answer format.")
    frame_sampling = property(lambda self: self.pipeline.frame_sampling, doc="The processor's frame rule.")

    @property
    def params(self) -> dict:
        """The pipeline's generation settings of this describer."""
        return {"max_new_tokens": self.max_new_tokens, "min_new_tokens": self.min_new_tokens,
                "decoding": self.decoding}

    def inputs_for(self, conversations: Sequence[list]):
        """The model inputs of one batch of prompt-only conversations (the pipeline's)."""
        return self.pipeline.inputs_for(conversations)

    def generate(self, samples: Sequence, batch_size: int = 8) -> list[str]:
        """Raw generated answers for prompt-only :class:`~training.data.sample.EmoCueSample` s (media as paths)."""
        inputs = [{"clip": s.id, "video": s.video, "audio": s.audio, "modality": s.modality, "subtitle": s.subtitle}
                  for s in samples]
        results = self.pipeline(inputs, batch_size=batch_size, **self.params)
        for r in results:
            if r["error"]:
                raise ValueError(r["error"])
        return [r["raw"] if r["raw"] is not None else r["explanation"] for r in results]

    def describe(self, clip: str | os.PathLike, subtitle: str = "", modality: str = "both", cues: bool = True,
                 frames: bool = False) -> Description:
        """Describe one clip; ``cues`` adds the cues and the emotion, ``frames`` the sampled frames."""
        clip = str(clip)
        result = self.pipeline(clip, subtitle=subtitle or "", modality=modality_name(modality), **self.params)
        desc = Description(clip=clip, modality=result["modality"], explanation=result["explanation"],
                           emotion=result["emotion"], answer_format=result["answer_format"],
                           invalid_json=result["invalid_json"])
        if result["cues"] is not None:
            desc.cues, desc.spans = result["cues"], result.get("spans")
        elif cues:
            desc.cues = extract_cues(desc.explanation)
            desc.emotion = emotion_from_cues(desc.cues)
        if frames and desc.modality != "audio":
            desc.frames = sampled_frames(clip, self.processor.num_frames, self.frame_sampling)
        return desc

    def __call__(self, clip: str, modality: str = "both", subtitle: str = "") -> Description:
        """The app's describe function: cues and frames included."""
        return self.describe(clip, subtitle=subtitle, modality=modality, cues=True, frames=True)


def sampled_frames(clip: str, num_frames: int = 16, frame_sampling: str = "segment_middle") -> list:
    """The frames the processor samples from ``clip`` (with its ``frame_sampling`` rule), as PIL images."""
    from PIL import Image

    from processing_xemogpt.media import load_video_frames

    return [Image.fromarray(f) for f in load_video_frames(clip, num_frames=num_frames,
                                                         frame_sampling=frame_sampling)]
