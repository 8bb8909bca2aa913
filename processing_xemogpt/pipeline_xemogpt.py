"""Inference as a transformers pipeline: the task ``"video-emotion-explanation"`` (:data:`.vocabulary.PIPELINE_TASK`).

Every checkpoint carries it: its ``config.json`` names this class in ``custom_pipelines`` and the processor's
``save_pretrained`` copies this file beside the remote code, so in any process::

    from transformers import pipeline

    pipe = pipeline(model="path/to/checkpoint", trust_remote_code=True)
    pipe("clip.mp4")                                     # {"explanation": ..., "emotion": ..., "cues": ..., ...}
    pipe("clip.mp4", subtitle="I can't believe it.", modality="visual", max_new_tokens=64)
    pipe(["a.mp4", "b.wav", "c.mp4"], batch_size=8)      # one result per clip; a bad file gets an "error" entry
    pipe("talk.mp4", segment=10, stride=5)               # one result per 10 s window, every 5 s

Inputs: a media path (video with or without audio, or an audio file), or a dict naming the media explicitly
(``{"video": ..., "audio": ..., "subtitle": ..., "modality": ..., "start": s, "end": s}``; ``"clip"`` instead of
``video``/``audio`` means "probe this file for its streams"), or a list of either.

``modality``: ``"multimodal"`` (default: the video and its audio stream when it has one; an audio-less video becomes
visual-only, an audio file audio-only), ``"visual"`` or ``"audio"`` (that stream is required). The prompt asks for the
answer the checkpoint was instruction-tuned to write (``config.answer_format``) in the prompt style of its processor.

Each result: ``clip``, ``video`` / ``audio`` (the files fed), ``subtitle``, ``modality`` (what was fed), ``start`` /
``end`` (the window, None for the whole clip), ``explanation``, ``emotion`` and ``cues`` (the JSON answer's own;
None for text checkpoints), ``spans`` (the time spans the JSON answer gave its cues, ``{dimension: [{"cue", "start",
"end"}]}`` in seconds of the clip; None when it gave none), ``answer_format``, ``raw`` (JSON answers: the generated text), ``invalid_json`` /
``json_error``, ``truncated`` (generation stopped at ``max_new_tokens`` before the answer ended) and ``error`` (None,
or the one-line reason this clip could not be described; a single clip that fails raises it instead).

Remote code: copied flat into checkpoints; imports transformers, torch and its sibling files only.
"""

from __future__ import annotations

import math
import os
import queue
import threading

import torch
from torch.utils.data import DataLoader
from transformers.pipelines.base import ChunkPipeline, no_collate_fn
from transformers.pipelines.pt_utils import PipelineChunkIterator, PipelineIterator, PipelinePackIterator

from .answer import parse_answer
from .audio import load_audio
from .media import MediaError, load_video_frames
from .probe import media_duration, probe_streams
from .vocabulary import AUDIO, MULTIMODAL, PIPELINE_TASK, VISUAL, check_modality

MEDIA_ERRORS = (ValueError, OSError)  # MediaError is a ValueError; missing files, permissions: OSError
DECODINGS = ("greedy", "checkpoint")
DEFAULT_MAX_NEW_TOKENS = {"text": 128, "json": 384}  # a JSON answer repeats the cues: it needs more room


def one_line(exc: BaseException) -> str:
    """An exception as one line of text (its type when it has no message)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def choose_modality(path, has_video: bool, has_audio: bool, modality: str = MULTIMODAL) -> str:
    """The modality fed for a file with these streams: ``"multimodal"`` uses what the file has; ``"visual"`` /
    ``"audio"`` need that stream (one-line error naming the file otherwise)."""
    check_modality(modality)
    if modality == VISUAL:
        if not has_video:
            raise MediaError(f"{path}: has no video stream, so --modality visual cannot be used (try audio)")
        return VISUAL
    if modality == AUDIO:
        if not has_audio:
            raise MediaError(f"{path}: has no audio stream, so --modality audio cannot be used (try visual)")
        return AUDIO
    if has_video and has_audio:
        return MULTIMODAL
    return VISUAL if has_video else AUDIO


def plan_windows(duration: float, segment: float, stride: float | None = None) -> list[tuple[float, float]]:
    """``(start, end)`` windows of ``segment`` seconds every ``stride`` seconds (default: ``segment``, no overlap)
    covering ``[0, duration)``: the last one ends at the clip's end (it may be shorter)."""
    stride = segment if stride is None else stride
    if segment <= 0 or stride <= 0:
        raise ValueError(f"--segment and --stride must be positive, got {segment} and {stride}")
    if duration <= 0:
        raise ValueError("the clip has no duration")
    count = max(1, math.ceil((duration - segment) / stride - 1e-9) + 1)
    return [(round(k * stride, 3), round(min(k * stride + segment, duration), 3)) for k in range(count)]


def load_media(processor, video=None, audio=None, start=None, end=None) -> tuple:
    """The frames ``[num_frames, H, W, 3]`` of ``video`` and the 16 kHz waveform of ``audio`` (paths; None: not fed)
    in the window ``[start, end)`` seconds, as the processor samples them (its frame rule, audio length limit and
    shortest usable audio); raises the one-line ``MediaError`` naming the file."""
    frames = wave = None
    if video:
        rule = getattr(processor.video_processor, "frame_sampling", "segment_middle")
        frames = load_video_frames(video, num_frames=processor.num_frames, start=start, end=end, frame_sampling=rule)
    if audio:
        wave = load_audio(audio, sampling_rate=processor.sampling_rate, max_seconds=processor.max_audio_seconds,
                          start=start, end=end)
        wave = processor.load_audio(wave, name=str(audio))
    return frames, wave


class Prefetched:
    """Iterates a data loader in a helper thread, one batch ahead and no more: the next batch's media are decoded
    and its inputs made by the processor (PyAV, numpy and torch release the GIL) while the current one generates.
    Used when the pipeline runs with ``num_workers=0`` (worker processes cost a process start per call). Further
    ahead, or the processor run in the generating thread, made ``generate`` several times slower with 2 torch threads
    on 2 cores (the two threads' CPU work contends). The thread stops when the iteration is dropped."""

    def __init__(self, loader):
        self.loader = loader

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        ahead, stop, taken = queue.Queue(maxsize=1), threading.Event(), threading.Event()

        def put(entry) -> bool:
            """Hand ``entry`` over and wait until it is taken: the helper works one batch ahead, no more."""
            taken.clear()
            ahead.put(entry)
            while not stop.is_set():
                if taken.wait(timeout=0.1):
                    return True
            return False

        def work():
            try:
                for batch in self.loader:
                    if not put((True, batch)):
                        return
            except BaseException as exc:  # handed to the consuming thread, raised there
                put((False, exc))
                return
            put((False, None))

        worker = threading.Thread(target=work, name="xemogpt-pipeline-prefetch", daemon=True)
        worker.start()
        try:
            while True:
                ok, batch = ahead.get()
                taken.set()
                if ok:
                    yield batch
                elif batch is None:
                    return
                else:
                    raise batch
        finally:  # the helper ends its batch and stops: no thread is left decoding when the process exits
            stop.set()
            worker.join(timeout=60)


class XEmoGPTPipeline(ChunkPipeline):
    """The emotional explanation of clips (see the module docstring): ``pipe(clip_or_clips, subtitle=,
    modality=, segment=, stride=, max_new_tokens=, min_new_tokens=, decoding=, batch_size=)``. ``decoding``:
    ``"greedy"`` (deterministic, the default) or ``"checkpoint"`` (the model's own ``generation_config.json``)."""

    _load_processor = True
    _load_tokenizer = False
    _load_feature_extractor = False
    _load_image_processor = False
    _load_video_processor = False

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("task", PIPELINE_TASK)
        super().__init__(*args, **kwargs)
        self.model.eval()
        self._suppress = None

    # ------------------------------------------------------------------------------------------------ settings
    @property
    def answer_format(self) -> str:
        """The answer the model was instruction-tuned to write (``config.answer_format``; "text" when absent)."""
        return getattr(self.model.config, "answer_format", None) or "text"

    @property
    def frame_sampling(self) -> str:
        """The processor's frame rule (``"segment_middle"`` when its video processor predates the option)."""
        return getattr(self.processor.video_processor, "frame_sampling", "segment_middle")

    def _sanitize_parameters(self, subtitle=None, modality=None, segment=None, stride=None, max_new_tokens=None,
                             min_new_tokens=None, decoding=None, generate_kwargs=None):
        if stride is not None and segment is None:
            raise ValueError("stride needs segment (the window length in seconds)")
        for name, value in (("segment", segment), ("stride", stride)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value}")
        for name, value in (("max_new_tokens", max_new_tokens), ("min_new_tokens", min_new_tokens)):
            if value is not None and int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if modality is not None:
            check_modality(modality)
        if decoding is not None and decoding not in DECODINGS:
            raise ValueError(f"decoding must be one of {', '.join(DECODINGS)}, got {decoding!r}")
        pre = {k: v for k, v in dict(subtitle=subtitle, modality=modality, segment=segment, stride=stride).items()
               if v is not None}
        fwd = {k: v for k, v in dict(max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens, decoding=decoding,
                                     generate_kwargs=generate_kwargs).items() if v is not None}
        return pre, fwd, {}

    # ------------------------------------------------------------------------------------------------ preprocess
    def clip_of(self, inputs, subtitle: str = "", modality: str = MULTIMODAL) -> dict:
        """One input (a path or a dict, see the module docstring) as ``{"clip", "video", "audio", "subtitle",
        "modality", "start", "end"}``: the files fed and the modality; a one-line error when it cannot be used."""
        if isinstance(inputs, (str, os.PathLike)):
            spec = {"clip": os.fspath(inputs)}
        elif isinstance(inputs, dict):
            spec = dict(inputs)
        else:
            raise ValueError(f"expected a media path or a dict of media paths, got {type(inputs).__name__}")
        video, audio = spec.get("video"), spec.get("audio")
        if video is None and audio is None:
            path = spec.get("clip")
            if path is None:
                raise ValueError(f"an input names no media (give 'clip', 'video' or 'audio'): {spec}")
            used = choose_modality(path, *probe_streams(path), spec.get("modality") or modality)
            video, audio = (path if used != AUDIO else None), (path if used != VISUAL else None)
        else:
            used = spec.get("modality") or (MULTIMODAL if video and audio else VISUAL if video else AUDIO)
        return {"clip": str(spec.get("clip") or video or audio), "video": video and os.fspath(video),
                "audio": audio and os.fspath(audio), "subtitle": spec.get("subtitle", subtitle) or "",
                "modality": check_modality(used), "start": spec.get("start"), "end": spec.get("end")}

    def messages_for(self, clip: dict) -> list:
        """The prompt-only conversation of a clip (or window): its media decoded, in the processor's prompt style,
        asking for the checkpoint's answer format."""
        frames, wave = load_media(self.processor, clip["video"], clip["audio"], clip["start"], clip["end"])
        return self.processor.build_messages(video=frames, audio=wave, subtitle=clip["subtitle"] or None,
                                             modality=clip["modality"], answer_format=self.answer_format)

    def preprocess(self, inputs, subtitle: str = "", modality: str = MULTIMODAL, segment: float | None = None,
                   stride: float | None = None):
        name = inputs.get("clip") or inputs.get("video") or inputs.get("audio") if isinstance(inputs, dict) else inputs
        try:
            clip = self.clip_of(inputs, subtitle, modality)
            windows = [(clip["start"], clip["end"])]
            if segment:
                kind = "video" if clip["video"] else "audio"
                windows = plan_windows(media_duration(clip[kind], kind), segment, stride)
        except MEDIA_ERRORS as exc:
            failed = {"clip": str(name), "windowed": bool(segment), "error": one_line(exc)}
            yield {"chunk": failed, "is_last": True}
            return
        for k, (start, end) in enumerate(windows):
            chunk = {**clip, "start": start, "end": end, "windowed": bool(segment), "error": None}
            try:
                chunk["messages"] = self.messages_for(chunk)
            except MEDIA_ERRORS as exc:  # nothing was fed: the result names no media
                chunk.update(video=None, audio=None, modality=None, error=one_line(exc))
            yield {"chunk": chunk, "is_last": k == len(windows) - 1}

    def _collate(self, items: list[dict]) -> dict:
        """A batch of chunks as lists, with the model inputs of the chunks that loaded (``None`` when the processor
        fails on the batch as a whole: :meth:`_answers` then tries them one by one)."""
        chunks = [item["chunk"] for item in items]
        ready = [c["messages"] for c in chunks if c["error"] is None]
        try:
            inputs = self.inputs_for(ready) if ready else None
        except MEDIA_ERRORS + (RuntimeError,):
            inputs = None
        return {"chunk": chunks, "is_last": [item["is_last"] for item in items], "inputs": inputs}

    def _collate_one(self, items: list[dict]) -> dict:
        """:meth:`_collate` of a batch of one, unbatched (``batch_size=1``: the pipeline iterator expects one item)."""
        (item,) = items
        return {**item, "inputs": self._collate(items)["inputs"]}

    def get_iterator(self, inputs, num_workers: int, batch_size: int, preprocess_params, forward_params,
                     postprocess_params):
        """``ChunkPipeline.get_iterator`` with this pipeline's collate function (the decoded clips of a batch, their
        conversations and the processor's padded inputs of those that loaded) and, without worker processes, the
        next batch prepared in a helper thread (:class:`Prefetched`)."""
        dataset = PipelineChunkIterator(inputs, self.preprocess, preprocess_params)
        loader = DataLoader(dataset, num_workers=min(num_workers, 1), batch_size=batch_size,
                            collate_fn=self._collate if batch_size > 1 else self._collate_one)
        loader = loader if num_workers else Prefetched(loader)
        model_iterator = PipelinePackIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)

    # ------------------------------------------------------------------------------------------------ generation
    def get_inference_context(self):
        """``torch.inference_mode`` (the base class uses ``no_grad``): measured on the tiny preset with 2 CPU
        threads, ``generate`` took about 10x the CPU time under ``no_grad``."""
        return torch.inference_mode

    def _suppressed_tokens(self) -> list[int] | None:
        """Special tokens an explanation never contains (placeholders, chat markers): all but end-of-sequence."""
        if self._suppress is None:
            tok = self.processor.tokenizer
            cfg = self.model.config
            special = set(getattr(tok, "all_special_ids", []) or [])
            special |= {i for i in (getattr(cfg, "video_token_id", None), getattr(cfg, "audio_token_id", None))
                        if i is not None}
            eos = getattr(self.model.generation_config, "eos_token_id", None)
            eos = set(eos if isinstance(eos, (list, tuple)) else [eos]) | {tok.eos_token_id}
            self._suppress = sorted(special - eos)
        return self._suppress or None

    def _eos_kwargs(self) -> dict:
        """End-of-sequence / padding ids from the tokenizer when the model's generation config has none."""
        gen, tok = self.model.generation_config, self.processor.tokenizer
        out = {}
        if getattr(gen, "eos_token_id", None) is None and tok.eos_token_id is not None:
            out["eos_token_id"] = tok.eos_token_id
        if getattr(gen, "pad_token_id", None) is None and tok.pad_token_id is not None:
            out["pad_token_id"] = tok.pad_token_id
        return out

    def _end_ids(self) -> set:
        ids = getattr(self.model.generation_config, "eos_token_id", None)
        ids = set(ids if isinstance(ids, (list, tuple)) else [ids])
        ids |= {self.processor.tokenizer.eos_token_id, getattr(self.processor, "end_of_turn_id", None)}
        return ids - {None}

    def inputs_for(self, conversations: list) -> dict:
        """The model inputs of one batch of prompt-only conversations (media as paths or arrays), left-padded."""
        conversations = list(conversations)
        return self.processor.apply_chat_template(
            conversations if len(conversations) > 1 else conversations[0], add_generation_prompt=True,
            tokenize=True, return_dict=True, return_tensors="pt")

    def generate_conversations(self, conversations: list, max_new_tokens: int | None = None, min_new_tokens: int = 1,
                               decoding: str = "greedy", generate_kwargs: dict | None = None, inputs=None) -> list:
        """``(text, truncated)`` for each prompt-only conversation of one batch (``inputs``: their
        :meth:`inputs_for`, when already made); ``truncated``: generation stopped at ``max_new_tokens`` before the end
        of the answer."""
        max_new_tokens = int(max_new_tokens or DEFAULT_MAX_NEW_TOKENS[self.answer_format])
        inputs = self.inputs_for(conversations) if inputs is None else inputs
        inputs = {k: (v.to(self.device) if hasattr(v, "to") else v) for k, v in inputs.items()}
        prompt_len = inputs["input_ids"].shape[1]
        search = dict(do_sample=False, num_beams=1) if decoding == "greedy" else {}
        kwargs = {**search, "min_new_tokens": min(int(min_new_tokens), max_new_tokens),
                  "suppress_tokens": self._suppressed_tokens(), **self._eos_kwargs(), **(generate_kwargs or {})}
        generated = self.model.generate(**inputs, max_new_tokens=max_new_tokens, **kwargs)
        new = generated[:, prompt_len:]
        finished = torch.isin(new, torch.tensor(sorted(self._end_ids()), device=new.device)).any(dim=1).tolist()
        texts = self.processor.batch_decode(new, skip_special_tokens=True)
        return [(t.strip(), not done and new.shape[1] >= max_new_tokens) for t, done in zip(texts, finished)]

    def _answers(self, conversations: list, inputs=None, **params) -> list:
        """Answers of one batch; if the batch fails as a whole, each clip alone (its exception in its place)."""
        try:
            if inputs is None and len(conversations) > 1:  # the processor failed on the batch in _collate
                raise RuntimeError("the batch's inputs could not be made")
            return self.generate_conversations(conversations, inputs=inputs, **params)
        except MEDIA_ERRORS + (RuntimeError,) as exc:
            if len(conversations) == 1:
                return [exc]
        out = []
        for conversation in conversations:
            try:
                out.extend(self.generate_conversations([conversation], **params))
            except MEDIA_ERRORS + (RuntimeError,) as exc:
                out.append(exc)
        return out

    def _forward(self, model_inputs, **params):
        batched = isinstance(model_inputs["is_last"], list)
        chunks = model_inputs["chunk"] if batched else [model_inputs["chunk"]]
        ready = [c for c in chunks if c["error"] is None]
        answers = iter(self._answers([c["messages"] for c in ready], model_inputs.get("inputs"), **params)
                       if ready else [])
        done, outputs = [], []
        for chunk in chunks:
            answer = next(answers) if chunk["error"] is None else None
            if isinstance(answer, BaseException):
                chunk, answer = {**chunk, "error": one_line(answer)}, None
            done.append({k: v for k, v in chunk.items() if k != "messages"})
            outputs.append(answer)
        if batched:
            return {"chunk": done, "answer": outputs, "is_last": model_inputs["is_last"]}
        return {"chunk": done[0], "answer": outputs[0], "is_last": model_inputs["is_last"]}

    # ------------------------------------------------------------------------------------------------ postprocess
    def result(self, chunk: dict, answer: tuple | None) -> dict:
        """One result (see the module docstring) of a described chunk (``answer``: ``(text, truncated)``) or a
        failed one (``answer`` None, ``chunk["error"]`` set)."""
        fmt = self.answer_format
        parsed = parse_answer(answer[0], fmt, answer[1]) if answer is not None else None
        return {
            "clip": chunk["clip"], "video": chunk.get("video"), "audio": chunk.get("audio"),
            "subtitle": chunk.get("subtitle", ""), "modality": chunk.get("modality"), "start": chunk.get("start"),
            "end": chunk.get("end"), "explanation": parsed.explanation if parsed else None,
            "emotion": parsed.emotion if parsed else None, "cues": parsed.cues if parsed else None,
            "spans": parsed.spans if parsed else None, "answer_format": fmt, "raw": answer[0] if answer is not None and fmt != "text" else None,
            "invalid_json": bool(parsed and parsed.invalid_json), "json_error": parsed.json_error if parsed else None,
            "truncated": bool(answer and answer[1]), "error": chunk.get("error"),
        }

    def postprocess(self, model_outputs: list):
        results = [self.result(out["chunk"], out["answer"]) for out in model_outputs]
        return results if model_outputs[0]["chunk"]["windowed"] else results[0]

    def save_pretrained(self, save_directory, **kwargs):
        """Save the checkpoint this pipeline runs: the model (its config names this pipeline in ``custom_pipelines``)
        and the processor (its remote code includes this file). ``Pipeline.save_pretrained`` would save the
        processor's tokenizer and feature extractor but not the processor itself."""
        self.model.save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory, **kwargs)

    def __call__(self, inputs, **kwargs):
        """Describe one clip (its result; a clip that cannot be described raises its one-line error) or a list of
        clips (one result each, failures as ``error`` entries)."""
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        out = super().__call__(inputs, **kwargs)
        if isinstance(inputs, (str, os.PathLike, dict)):
            failed = [r["error"] for r in (out if isinstance(out, list) else [out]) if r["error"]]
            if failed:
                raise MediaError(failed[0])
        return out


__all__ = ["XEmoGPTPipeline", "DEFAULT_MAX_NEW_TOKENS", "choose_modality", "load_media", "plan_windows"]
