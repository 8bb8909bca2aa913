"""XEmoGPT multimodal processor (paper §III, §VI-A): video processor + HuBERT feature extractor + tokenizer.

Remote code: copied flat into checkpoints next to its sibling modules; relative imports only, and nothing but numpy /
torch / transformers / tokenizers / PyAV / soundfile. Built the transformers-5 way: ``ProcessorMixin.__call__`` runs
the sub-processors, asks :meth:`replace_video_token` / :meth:`replace_audio_token` how many tokens each placeholder
becomes, expands the text and tokenises it (the tokenizer pads). This class adds only what the library cannot do here:
loading audio files and video audio tracks with PyAV/soundfile (transformers' loaders need torchcodec).

Contract with the model (docs/architecture.md):

* every ``<video>`` placeholder in the text is one video and expands to ``num_frames`` ``<video>`` tokens;
* every ``<audio>`` placeholder is one audio clip and expands to ``audio_token_count(n)`` ``<audio>`` tokens, the
  HuBERT output length for the clip's ``n`` samples (after truncation to ``max_audio_seconds``);
* ``pixel_values_videos`` ``[num_videos, num_frames, 3, 224, 224]``, ``input_values`` ``[num_audios, S]`` (right
  padded, normalised) and ``audio_attention_mask`` ``[num_audios, S]`` hold the media in the order of their
  placeholders, reading the batch row by row.

Prompt styles (``prompt_style``, saved in ``processor_config.json``; a processor saved without it is ``"xemogpt"``):
``"xemogpt"`` is this package's Qwen-style chat; ``"official"`` is the XEmoGPT authors' prompt (``###Human: …
###Assistant: ``, the pad token as BOS, audio before video, answer + eos), the default of checkpoints converted from
their release. :meth:`XEmoGPTProcessor.build_messages` builds the conversation of the processor's style and
:meth:`XEmoGPTProcessor.apply_chat_template` renders it (see :mod:`.conversation`).
"""

from __future__ import annotations

import os

import numpy as np
from transformers import AutoTokenizer, Wav2Vec2FeatureExtractor
from transformers.processing_utils import ProcessingKwargs, ProcessorMixin

from .audio import load_audio, resample_audio
from .components import hubert_feature_extractor, load_component, saved_settings
from .conversation import (
    AUDIO_TOKEN,
    CHAT_TEMPLATES,
    INSTRUCTIONS,
    PROMPT_STYLES,
    VIDEO_TOKEN,
    XEMOGPT_CHAT_TEMPLATE,
    build_messages,
    is_pathlike,
    messages_for_style,
)
from .media import MediaError
# the inference pipeline named by config.custom_pipelines: imported here so that save_pretrained, which copies this
# file's relative imports with it, writes pipeline_xemogpt.py into every checkpoint
from .pipeline_xemogpt import XEmoGPTPipeline  # noqa: F401
from .processing_chat import XEmoGPTChatMixin
from .tokenization_tiny import build_tiny_tokenizer
from .video_processing_xemogpt import XEmoGPTVideoProcessor

# HuBERT's default feature-encoder conv stack (also chinese-hubert-large's): 320x downsampling, 400-sample receptive field
HUBERT_CONV_KERNEL = (10, 3, 3, 3, 3, 2, 2)
HUBERT_CONV_STRIDE = (5, 2, 2, 2, 2, 2, 2)

# Backbones named by the paper (§VI-A); duplicated from modeling_xemogpt on purpose (remote code imports no sibling).
PAPER_COMPONENTS = {
    "vision": "openai/clip-vit-large-patch14",
    "audio": "TencentGameMate/chinese-hubert-large",
    "text": "Qwen/Qwen3-4B",
}


class XEmoGPTProcessorKwargs(ProcessingKwargs, total=False):
    """Keyword arguments of :meth:`XEmoGPTProcessor.__call__`, by modality (``text_kwargs``, ``videos_kwargs``,
    ``audio_kwargs``), as in transformers' processors."""


def hubert_output_length(num_samples: int, conv_kernel=HUBERT_CONV_KERNEL, conv_stride=HUBERT_CONV_STRIDE) -> int:
    """HuBERT feature-encoder output length for ``num_samples`` (``HubertModel._get_feat_extract_output_lengths``)."""
    length = int(num_samples)
    for kernel, stride in zip(conv_kernel, conv_stride):
        length = (length - int(kernel)) // int(stride) + 1
    return max(length, 0)


def _flatten_media(media, kind: str) -> list:
    """Media given flat in placeholder order or grouped per sample (lists, None for none) -> one flat list."""
    if media is None:
        return []
    if is_pathlike(media) or isinstance(media, (np.ndarray, dict, bytes)) or hasattr(media, "detach"):
        return [media]
    if not isinstance(media, (list, tuple)):
        raise MediaError(f"{kind}: expected a path, an array or a list of them, got {type(media).__name__}")
    flat = []
    for item in media:
        if isinstance(item, (list, tuple)):
            flat.extend(x for x in item if x is not None)
        elif item is not None:
            flat.append(item)
    return flat


class XEmoGPTProcessor(XEmoGPTChatMixin, ProcessorMixin):
    r"""
    Processor of XEmoGPT: turns text with ``<video>``/``<audio>`` placeholders, videos and audio into model inputs.

    Args:
        video_processor ([`XEmoGPTVideoProcessor`]): PyAV frame sampling, 224×224, CLIP normalisation.
        feature_extractor ([`Wav2Vec2FeatureExtractor`]): 16 kHz waveform normalisation for HuBERT (attention mask on).
        tokenizer: the LLM's tokenizer; must know ``video_token`` and ``audio_token``.
        chat_template (`str`, optional): defaults to the template of ``prompt_style``.
        max_audio_seconds (`float`, defaults to 12): audio is truncated to this length.
        conv_kernel / conv_stride (`list[int]`): HuBERT's feature-encoder conv stack, for the audio token count.
        video_token / audio_token (`str`): the placeholders.
        prompt_style (`str`, defaults to ``"xemogpt"``): ``"xemogpt"`` (Qwen-style chat) or ``"official"`` (the
            authors' ``###Human: … ###Assistant: `` prompt with the pad token as BOS; needs a pad token). It decides
            what :meth:`build_messages` builds, the default chat template and what ends an answer
            (:attr:`end_of_turn_id`). It does not change a given video processor: :meth:`from_components` and
            :meth:`from_preset` give the official style the authors' frame rule (``"uniform_all_frames"``).
    """

    valid_processor_kwargs = XEmoGPTProcessorKwargs
    text_kwargs = {"padding": True, "padding_side": "left", "add_special_tokens": False}
    audio_kwargs = {"padding": "longest", "return_attention_mask": True}

    def __init__(
        self,
        video_processor=None,
        feature_extractor=None,
        tokenizer=None,
        chat_template=None,
        max_audio_seconds=12.0,
        conv_kernel=HUBERT_CONV_KERNEL,
        conv_stride=HUBERT_CONV_STRIDE,
        video_token=VIDEO_TOKEN,
        audio_token=AUDIO_TOKEN,
        prompt_style="xemogpt",
        **kwargs,
    ):
        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {prompt_style!r}")
        self.prompt_style = prompt_style
        self.max_audio_seconds = float(max_audio_seconds)
        self.conv_kernel = [int(k) for k in conv_kernel]
        self.conv_stride = [int(s) for s in conv_stride]
        if len(self.conv_kernel) != len(self.conv_stride):
            raise ValueError("conv_kernel and conv_stride must have the same length")
        self.video_token = video_token
        self.audio_token = audio_token
        super().__init__(video_processor, feature_extractor, tokenizer, chat_template=chat_template or
                         CHAT_TEMPLATES[prompt_style])
        self.video_token_id = self._token_id(video_token)
        self.audio_token_id = self._token_id(audio_token)
        if prompt_style == "official" and self.tokenizer.pad_token_id is None:
            raise ValueError("prompt_style 'official' puts the pad token first (the authors' BOS), but the tokenizer "
                             "has no pad token; set one (XEmoGPTProcessor.prepare_tokenizer does)")

    def _token_id(self, token: str) -> int:
        ids = self.tokenizer.convert_tokens_to_ids([token])
        tid = ids[0] if ids else None
        if tid is None or tid == self.tokenizer.unk_token_id:
            raise ValueError(
                f"the tokenizer has no {token!r} token; build the processor with XEmoGPTProcessor.from_components "
                "(it adds the placeholders) or add it as a special token"
            )
        if self.tokenizer.encode(token, add_special_tokens=False) != [tid]:
            raise ValueError(f"the tokenizer does not keep {token!r} as one token; add it as a special token")
        return int(tid)

    # ------------------------------------------------------------------------------------------------ construction
    @staticmethod
    def frame_sampling_of(prompt_style: str, frame_sampling: str | None = None) -> str:
        """The frame rule of a prompt style unless one is given: the authors' ``"uniform_all_frames"`` for
        ``"official"``, ``"segment_middle"`` otherwise."""
        if frame_sampling is not None:
            return frame_sampling
        return "uniform_all_frames" if prompt_style == "official" else "segment_middle"

    @classmethod
    def from_preset(cls, name: str = "tiny", **kwargs) -> "XEmoGPTProcessor":
        """``"tiny"``: offline, in milliseconds (video processor, HuBERT feature extractor, local BPE with the chat
        template and placeholders at fixed ids 0-4). ``"paper"``: the paper's components from the Hub (CLIP ViT-L/14,
        chinese-hubert-large, Qwen3-4B), see :meth:`from_components`. ``prompt_style="official"`` gives the authors'
        prompt and frame rule (``frame_sampling`` overrides the rule)."""
        if name == "tiny":
            num_frames = kwargs.pop("num_frames", 16)
            frame_sampling = cls.frame_sampling_of(kwargs.get("prompt_style", "xemogpt"),
                                                   kwargs.pop("frame_sampling", None))
            tokenizer = build_tiny_tokenizer(chat_template=XEMOGPT_CHAT_TEMPLATE)
            return cls(XEmoGPTVideoProcessor(num_frames=num_frames, frame_sampling=frame_sampling),
                       hubert_feature_extractor(), tokenizer, **kwargs)
        if name == "paper":
            return cls.from_components(**PAPER_COMPONENTS, **kwargs)
        raise ValueError(f"unknown XEmoGPT processor preset {name!r}; choose 'tiny' or 'paper'")

    @classmethod
    def from_components(cls, vision, audio, text, num_frames: int = 16, prompt_style: str = "xemogpt",
                        frame_sampling: str | None = None, **kwargs) -> "XEmoGPTProcessor":
        """Build from pretrained components (Hub ids or local paths): the image size and normalisation of ``vision``'s
        CLIP image processor, the feature extractor of ``audio`` (forced to 16 kHz with attention mask, and normalised
        except in the official style, which keeps the backbone's own ``do_normalize``; its conv stack read from its
        config) and the tokenizer of ``text``. ``<video>``/``<audio>`` are appended as
        special tokens when missing (in that order, as ``XEmoGPTForConditionalGeneration.from_components`` does, so
        both get the same ids), a pad token is set when missing, and the XEmoGPT chat template is set on the
        tokenizer when it has none. ``prompt_style="official"`` (converted checkpoints of the authors' release) also
        picks their frame rule, ``"uniform_all_frames"``, unless ``frame_sampling`` is given."""
        from transformers import AutoConfig, CLIPImageProcessor

        if prompt_style not in PROMPT_STYLES:
            raise ValueError(f"prompt_style must be one of {', '.join(PROMPT_STYLES)}, got {prompt_style!r}")
        image_processor = load_component("vision", vision, CLIPImageProcessor.from_pretrained)
        video_processor = XEmoGPTVideoProcessor.from_image_processor(
            image_processor, num_frames=num_frames, frame_sampling=cls.frame_sampling_of(prompt_style, frame_sampling))

        def load_feature_extractor(name):
            try:
                return hubert_feature_extractor(Wav2Vec2FeatureExtractor.from_pretrained(name).to_dict(),
                                                keep_normalization=prompt_style == "official")
            except OSError:  # a HuBERT checkpoint without preprocessor_config.json: its config.json proves it exists
                AutoConfig.from_pretrained(name)
                return hubert_feature_extractor()

        feature_extractor = load_component("audio", audio, load_feature_extractor)
        tokenizer = load_component("text", text, AutoTokenizer.from_pretrained)
        try:
            audio_config = AutoConfig.from_pretrained(os.fspath(audio))
            audio_config = getattr(audio_config, "audio_config", audio_config)
            kwargs.setdefault("conv_kernel", list(audio_config.conv_kernel))
            kwargs.setdefault("conv_stride", list(audio_config.conv_stride))
        except (OSError, ValueError, AttributeError):
            pass  # no HuBERT config.json next to the feature extractor: HuBERT's standard conv stack
        cls.prepare_tokenizer(tokenizer)
        return cls(video_processor, feature_extractor, tokenizer, prompt_style=prompt_style, **kwargs)

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        """The sub-processors of a saved processor. Their classes are known, so they are built from
        ``processor_config.json`` directly (no Auto-class lookup, hence no remote-code prompt when this package is
        imported). A processor saved before the video processor existed holds a CLIP ``image_processor`` entry (and
        ``num_frames``) instead: it gets the equivalent :class:`XEmoGPTVideoProcessor`."""
        processor_dict = processor_dict or {}
        if "video_processor" in processor_dict:
            video_processor = XEmoGPTVideoProcessor(**saved_settings(processor_dict["video_processor"]))
        elif "image_processor" in processor_dict:  # saved by XEmoGPT before the video processor existed
            from transformers import CLIPImageProcessor

            video_processor = XEmoGPTVideoProcessor.from_image_processor(
                CLIPImageProcessor(**saved_settings(processor_dict["image_processor"])),
                num_frames=int(processor_dict.get("num_frames", 16)))
        else:
            video_processor = XEmoGPTVideoProcessor.from_pretrained(pretrained_model_name_or_path, **kwargs)
        # what this package saved is kept as it is (do_normalize was decided when the processor was built)
        feature_extractor = hubert_feature_extractor(processor_dict.get("feature_extractor"), keep_normalization=True)
        tokenizer = AutoTokenizer.from_pretrained(pretrained_model_name_or_path, **kwargs)
        return [video_processor, feature_extractor, tokenizer]

    @staticmethod
    def prepare_tokenizer(tokenizer):
        """Append ``<video>``/``<audio>`` (special, in that order) if missing; set pad and chat template if missing."""
        from tokenizers import AddedToken

        missing = [t for t in (VIDEO_TOKEN, AUDIO_TOKEN) if t not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in missing], special_tokens=True)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = "<|endoftext|>" if "<|endoftext|>" in tokenizer.get_vocab() else tokenizer.eos_token
        if not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = XEMOGPT_CHAT_TEMPLATE
        return tokenizer

    # ------------------------------------------------------------------------------------------------ media
    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "pixel_values_videos", "input_values", "audio_attention_mask"]

    @property
    def num_frames(self) -> int:
        return int(self.video_processor.num_frames)

    @property
    def sampling_rate(self) -> int:
        return int(self.feature_extractor.sampling_rate)

    @property
    def max_audio_samples(self) -> int:
        return int(round(self.max_audio_seconds * self.sampling_rate))

    @property
    def min_audio_samples(self) -> int:
        """Fewest samples that give one HuBERT frame (400 for the standard conv stack, 25 ms at 16 kHz)."""
        n = 1
        while hubert_output_length(n, self.conv_kernel, self.conv_stride) < 1:
            n += 1
        return n

    def audio_token_count(self, num_samples: int) -> int:
        """Number of ``<audio>`` tokens for a clip of ``num_samples`` (after truncation to ``max_audio_seconds``)."""
        return hubert_output_length(min(int(num_samples), self.max_audio_samples), self.conv_kernel, self.conv_stride)

    def build_messages(self, video=None, audio=None, subtitle=None, instruction=None, answer=None, modality=None,
                       answer_format: str = "text") -> list[dict]:
        """The conversation of this processor's prompt style for one clip: ``"xemogpt"``:
        :func:`~.conversation.build_messages` (audio, video, subtitle, the modality's instruction [, answer]);
        ``"official"``: :func:`~.conversation.build_official_messages` (the authors' prompt; absent media stay as
        their ``<AudioHere>`` / ``<VideoHere>`` text, as in their code). ``video`` / ``audio``: a path or an array,
        None to leave that medium out; ``answer``: ends the conversation with the assistant's message."""
        return messages_for_style(self.prompt_style, video=video, audio=audio, subtitle=subtitle,
                                  instruction=instruction, answer=answer, modality=modality,
                                  answer_format=answer_format)

    def load_video(self, video, name: str = "video") -> np.ndarray:
        """A video input (path, or uint8 array/tensor ``[T,H,W,3]`` or ``[T,3,H,W]``) -> uint8 ``[num_frames,H,W,3]``."""
        return self.video_processor.load_video(video, name=name)

    def load_audio(self, audio, name: str = "audio") -> np.ndarray:
        """An audio input (path to an audio file or a video's audio track, float array at 16 kHz, or an
        ``{"array", "sampling_rate"}`` dict as in ``datasets.Audio``) -> float32 mono, truncated to
        ``max_audio_seconds``."""
        if is_pathlike(audio) or isinstance(audio, bytes):
            wav = load_audio(audio, sampling_rate=self.sampling_rate, max_seconds=self.max_audio_seconds)
            label = os.fspath(audio) if not isinstance(audio, bytes) else name
        else:
            wav, label = self._audio_array(audio, name), name
        if wav.size < self.min_audio_samples:
            raise MediaError(
                f"{label}: audio too short ({wav.size} samples at {self.sampling_rate} Hz; HuBERT needs at least "
                f"{self.min_audio_samples} samples for one frame)"
            )
        return wav

    def _audio_array(self, audio, name: str) -> np.ndarray:
        rate = self.sampling_rate
        if isinstance(audio, dict):
            if audio.get("array") is None and audio.get("path"):
                return self.load_audio(audio["path"], name=name)
            rate = int(audio.get("sampling_rate") or rate)
            audio = audio.get("array")
        if hasattr(audio, "detach") and hasattr(audio, "cpu"):
            audio = audio.detach().cpu().numpy()
        if isinstance(audio, list):
            audio = np.asarray(audio)
        if not isinstance(audio, np.ndarray):
            raise MediaError(f"{name}: expected a file path or a float waveform array, got {type(audio).__name__}")
        if audio.ndim == 2 and 1 in audio.shape:
            audio = audio.reshape(-1)
        if audio.ndim != 1:
            raise MediaError(f"{name}: expected a mono waveform [num_samples], got shape {audio.shape}")
        if not np.issubdtype(audio.dtype, np.floating):
            raise MediaError(f"{name}: expected float samples in [-1, 1], got dtype {audio.dtype}")
        if audio.size == 0:
            raise MediaError(f"{name}: zero-length audio")
        if not np.all(np.isfinite(audio)):
            raise MediaError(f"{name}: audio contains NaN or infinite samples")
        wav = audio.astype(np.float32)
        if rate != self.sampling_rate:
            wav = resample_audio(wav[: int(np.ceil(self.max_audio_seconds * rate)) + 1], rate, self.sampling_rate)
        return wav[: self.max_audio_samples]

    # ------------------------------------------------------------------------------------------------ __call__ hooks
    def prepare_inputs_layout(self, images=None, text=None, videos=None, audio=None, **kwargs):
        """Flatten per-sample media groups; load audio files and tracks with PyAV/soundfile (videos are decoded by
        the video processor)."""
        if images is not None:
            raise ValueError("XEmoGPTProcessor takes videos and audio, not images (pass a still image as a 1-frame video)")
        if text is None:
            raise ValueError("text is required (a string or a list of strings with <video>/<audio> placeholders)")
        texts = [text] if isinstance(text, str) else list(text)
        if not texts or not all(isinstance(t, str) for t in texts):
            raise ValueError("text must be a string or a non-empty list of strings")
        videos = [os.fspath(v) if isinstance(v, os.PathLike) else v for v in _flatten_media(videos, "videos")] or None
        waves = [self.load_audio(a, name=f"audio #{i}") for i, a in enumerate(_flatten_media(audio, "audio"))]
        return None, texts, videos, waves or None

    def validate_inputs(self, images=None, text=None, videos=None, audio=None, **kwargs):
        problems = []
        for token, media, what in ((self.video_token, videos, "video(s)"), (self.audio_token, audio, "audio clip(s)")):
            placeholders, given = sum(t.count(token) for t in text), len(media or [])
            if placeholders != given:
                problems.append(f"{placeholders} {token} placeholder(s) but {given} {what}")
        if problems:
            raise ValueError(
                "the text holds " + " and ".join(problems) + "; each placeholder stands for one whole video / audio "
                "clip (the processor expands it to the right number of tokens)"
            )
        if kwargs.get("truncation"):
            raise ValueError("truncation is not supported: it could cut media placeholders (the collator truncates "
                             "answers)")

    def _process_audio(self, audio, **kwargs):
        # waveforms are always padded to the longest clip (text padding is the caller's choice)
        kwargs.update(sampling_rate=self.sampling_rate, padding="longest", return_attention_mask=True,
                      return_tensors="np")
        out = self.feature_extractor(audio, **kwargs)
        mask = np.asarray(out.pop("attention_mask"), dtype=np.int64)
        counts = [self.audio_token_count(int(n)) for n in mask.sum(-1)]
        processed = {"input_values": np.asarray(out["input_values"], dtype=np.float32), "audio_attention_mask": mask}
        return processed, [self.audio_token * n for n in counts]

    def replace_video_token(self, video_inputs: dict, video_idx: int, **kwargs) -> str:
        return self.video_token * int(video_inputs["pixel_values_videos"][video_idx].shape[0])

    def expand_placeholders(self, text: list[str], audio_token_counts: list[int] = ()) -> list[str]:
        """``text`` with each ``<video>`` expanded to ``num_frames`` tokens and the i-th ``<audio>`` to
        ``audio_token_counts[i]`` tokens: for media given as precomputed frozen features (a feature cache)."""
        counts = iter(audio_token_counts)
        out = []
        for t in text:
            parts = t.split(self.audio_token)
            expanded = parts[0]
            for part in parts[1:]:
                n = next(counts, None)
                if n is None:
                    raise ValueError(f"the text holds more {self.audio_token} placeholders than audio token counts")
                expanded += self.audio_token * int(n) + part
            out.append(expanded.replace(self.video_token, self.video_token * self.num_frames))
        if next(counts, None) is not None:
            raise ValueError(f"more audio token counts than {self.audio_token} placeholders in the text")
        return out


XEmoGPTProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "XEmoGPTProcessor",
    "XEmoGPTProcessorKwargs",
    "build_messages",
    "hubert_output_length",
    "XEMOGPT_CHAT_TEMPLATE",
    "PROMPT_STYLES",
    "INSTRUCTIONS",
    "PAPER_COMPONENTS",
]
