"""Load an XEmoGPT model + processor and describe clips: the one implementation behind ``xemogpt describe``,
``xemogpt serve`` and ``xemogpt demo``.

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

Answer format: the prompt asks for the answer the checkpoint was instruction-tuned to write (``config.answer_format``,
``"text"`` or ``"json"``), and the output is read back with :func:`training.data.answer_format.parse_answer`.
Datasets, folders, long videos and several processes: :mod:`xemogpt_cli.describe_run`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

DEFAULT_DEMO_DIR = Path("demo_output")
DEFAULT_CHECKPOINT = DEFAULT_DEMO_DIR / "checkpoint"
MODEL_ENV = "XEMOGPT_MODEL"
TINY = "tiny"  # the name that selects the untrained tiny preset

from processing_xemogpt.vocabulary import AUDIO_EXTENSIONS as AUDIO_SUFFIXES
from processing_xemogpt.vocabulary import VIDEO_EXTENSIONS as VIDEO_SUFFIXES

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


# ------------------------------------------------------------------------------------------------ media helpers
def probe_streams(path: str | os.PathLike) -> tuple[bool, bool]:
    """``(has_video, has_audio)`` of a media file; raises the processor's one-line ``MediaError`` when unusable."""
    from processing_xemogpt.media import MediaError, _check_path  # noqa: F401  (the processor's own checks)

    p = _check_path(path, "clip")
    if p.suffix.lower() in {".wav", ".flac"}:
        import soundfile as sf

        try:
            frames = sf.info(str(p)).frames
        except Exception as exc:
            text = " ".join(str(exc).split())
            raise MediaError(f"{p}: not a readable audio file ({type(exc).__name__}: {text})") from None
        if frames == 0:
            raise MediaError(f"{p}: zero-length audio (the file has no samples)")
        return False, True
    import av

    try:
        with av.open(str(p), mode="r") as container:
            has_video = bool(container.streams.video)
            has_audio = bool(container.streams.audio)
    except Exception as exc:
        text = " ".join(str(exc).split())
        raise MediaError(f"{p}: not a readable media file ({type(exc).__name__}: {text})") from None
    if not has_video and not has_audio:
        raise MediaError(f"{p}: no video or audio stream")
    return has_video, has_audio


def choose_modality(path: str | os.PathLike, modality: str = "both") -> str:
    """Map the user's choice to the sample's modality ("multimodal" | "visual" | "audio") for this file."""
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; choose one of {', '.join(MODALITIES)}")
    has_video, has_audio = probe_streams(path)
    if modality == "visual":
        if not has_video:
            raise ValueError(f"{path}: has no video stream, so --modality visual cannot be used (try audio)")
        return "visual"
    if modality == "audio":
        if not has_audio:
            raise ValueError(f"{path}: has no audio stream, so --modality audio cannot be used (try visual)")
        return "audio"
    if has_video and has_audio:
        return "multimodal"
    return "visual" if has_video else "audio"


def extract_cues(text: str) -> dict:
    """Visual/audio/global cues of an explanation with EmoCue-360's offline rules extractor."""
    from emocue360.rules import extract_cues_rules

    cues = extract_cues_rules(text or "")
    return {k: list(cues.get(k, [])) for k in ("visual", "audio", "global")}


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
    """Describe clips with one loaded model: ``Describer(model).describe("clip.mp4")``."""

    DECODINGS = ("greedy", "checkpoint")

    def __init__(self, model: str | os.PathLike | None = None, *, device: str = "cpu", max_new_tokens: int = 128,
                 seed: int = 0, loaded: tuple | None = None, decoding: str = "greedy"):
        """``decoding``: ``"greedy"`` (deterministic, the default) or ``"checkpoint"`` (the model's own
        ``generation_config.json``, e.g. the authors' beam-5 sampling in a converted release)."""
        if decoding not in self.DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(self.DECODINGS)}, got {decoding!r}")
        self.decoding = decoding
        if loaded is not None:
            self.model, self.processor = loaded[0], loaded[1]
            self.name = loaded[2] if len(loaded) > 2 else type(self.model).__name__
        else:
            self.model, self.processor, self.name = load_model_and_processor(model, device=device, seed=seed)
        self.device = device
        self.max_new_tokens = int(max_new_tokens)
        self.min_new_tokens = 1  # benchmarks set it to max_new_tokens: every answer the same length

    def _suppressed_tokens(self) -> list[int] | None:
        """Special tokens an explanation never contains (placeholders, chat markers): all but end-of-sequence."""
        if getattr(self, "_suppress", None) is None:
            tok = getattr(self.processor, "tokenizer", None)
            special = set(getattr(tok, "all_special_ids", []) or [])
            cfg = self.model.config
            special |= {i for i in (getattr(cfg, "video_token_id", None), getattr(cfg, "audio_token_id", None))
                        if i is not None}
            eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
            eos = set(eos if isinstance(eos, (list, tuple)) else [eos]) | {getattr(tok, "eos_token_id", None)}
            self._suppress = sorted(special - eos)
        return self._suppress or None

    def _eos_kwargs(self) -> dict:
        """End-of-sequence / padding ids from the tokenizer when the model's generation config has none."""
        gen = getattr(self.model, "generation_config", None)
        tok = getattr(self.processor, "tokenizer", None)
        out = {}
        if getattr(gen, "eos_token_id", None) is None and getattr(tok, "eos_token_id", None) is not None:
            out["eos_token_id"] = tok.eos_token_id
        if getattr(gen, "pad_token_id", None) is None and getattr(tok, "pad_token_id", None) is not None:
            out["pad_token_id"] = tok.pad_token_id
        return out

    @property
    def answer_format(self) -> str:
        """The answer the model was instruction-tuned to write (``config.answer_format``; "text" when absent)."""
        return getattr(getattr(self.model, "config", None), "answer_format", None) or "text"

    def _end_ids(self) -> set:
        gen = getattr(self.model, "generation_config", None)
        ids = getattr(gen, "eos_token_id", None)
        ids = set(ids if isinstance(ids, (list, tuple)) else [ids])
        ids |= {getattr(getattr(self.processor, "tokenizer", None), "eos_token_id", None),
                getattr(self.processor, "end_of_turn_id", None)}
        return ids - {None}

    def inputs_for(self, conversations: Sequence[list]):
        """The model inputs of one batch of prompt-only conversations (media as paths or arrays), left-padded."""
        conversations = list(conversations)
        return self.processor.apply_chat_template(
            conversations if len(conversations) > 1 else conversations[0], add_generation_prompt=True,
            tokenize=True, return_dict=True, return_tensors="pt")

    def generate_conversations(self, conversations: Sequence[list], inputs=None) -> list[tuple[str, bool]]:
        """``(text, truncated)`` for each prompt-only conversation of one batch (media as paths or arrays; ``inputs``:
        their :meth:`inputs_for`, when already made); ``truncated``: generation stopped at ``max_new_tokens`` before
        the end of the answer."""
        import torch

        inputs = self.inputs_for(conversations) if inputs is None else inputs
        inputs = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
        prompt_len = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            search = dict(do_sample=False, num_beams=1) if self.decoding == "greedy" else {}
            generated = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, **search,
                                            min_new_tokens=self.min_new_tokens,
                                            suppress_tokens=self._suppressed_tokens(), **self._eos_kwargs())
        new = generated[:, prompt_len:]
        ends = torch.tensor(sorted(self._end_ids()), device=new.device)
        finished = torch.isin(new, ends).any(dim=1).tolist()
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        return [(t.strip(), not done and new.shape[1] >= self.max_new_tokens) for t, done in zip(texts, finished)]

    def prompt_sample(self, sample):
        """``sample`` asking for this model's answer format (a sample with the default instruction gets the JSON
        request when the model writes JSON)."""
        if self.answer_format != "text" and sample.instruction is None:
            from training.data.sample import instruction_for

            return replace(sample, instruction=instruction_for(sample.modality, self.answer_format))
        return sample

    def messages(self, sample) -> list:
        """The prompt-only conversation of ``sample`` in the prompt style of the model's processor
        (``processor.build_messages``: a converted checkpoint's processor gives the authors' prompt)."""
        return sample.messages(with_answer=False, processor=self.processor)

    @property
    def frame_sampling(self) -> str:
        """The processor's frame rule (``"segment_middle"`` when its video processor predates the option)."""
        return getattr(getattr(self.processor, "video_processor", None), "frame_sampling", "segment_middle")

    def generate(self, samples: Sequence, batch_size: int = 8, progress: bool = False) -> list[str]:
        """Raw generated answers for prompt-only :class:`~training.data.sample.EmoCueSample` s (media as paths)."""
        samples = [self.prompt_sample(s) for s in samples]
        out: list[str] = []
        batches = range(0, len(samples), batch_size)
        if progress:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc="describe", unit="batch")
        for start in batches:
            chunk = samples[start : start + batch_size]
            out.extend(text for text, _ in self.generate_conversations([self.messages(s) for s in chunk]))
        return out

    def describe(self, clip: str | os.PathLike, subtitle: str = "", modality: str = "both", cues: bool = True,
                 frames: bool = False) -> Description:
        """Describe one clip; ``cues`` adds the cues and the emotion, ``frames`` the sampled frames."""
        from training.data.answer_format import parse_answer
        from training.data.sample import EmoCueSample

        clip = str(clip)
        used = choose_modality(clip, modality)
        sample = self.prompt_sample(EmoCueSample(id=clip, modality=used, video=clip if used != "audio" else None,
                                                 audio=clip if used != "visual" else None, subtitle=subtitle or ""))
        text, truncated = self.generate_conversations([self.messages(sample)])[0]
        parsed = parse_answer(text, self.answer_format, truncated)
        desc = Description(clip=clip, modality=used, explanation=parsed.explanation, emotion=parsed.emotion,
                           answer_format=self.answer_format, invalid_json=parsed.invalid_json)
        if parsed.cues is not None:
            desc.cues, desc.spans = parsed.cues, parsed.spans
        elif cues:
            desc.cues = extract_cues(parsed.explanation)
            desc.emotion = emotion_from_cues(desc.cues)
        if frames and used != "audio":
            desc.frames = sampled_frames(clip, getattr(getattr(self.model, "config", None), "num_frames", 16),
                                         self.frame_sampling)
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
