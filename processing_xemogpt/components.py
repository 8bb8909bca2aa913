"""The processor's pretrained parts: Hub id or local path, and the saved settings of its sub-processors (remote code:
relative imports only)."""

from __future__ import annotations

import os
from pathlib import Path

from transformers import Wav2Vec2FeatureExtractor


def is_local_path(name: str) -> bool:
    """Whether ``name`` means a local path rather than a Hub repo id (``name`` or ``org/name``, as huggingface_hub
    validates them): an existing path, or anything that is not a valid repo id."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if os.path.exists(name) or name.startswith((".", "~", "/")):
        return True
    try:
        validate_repo_id(name)
    except HFValidationError:
        return True
    return False


def load_component(kind: str, name, loader):
    name = os.fspath(name)
    if is_local_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{kind} component {name!r}: path does not exist")
        name = str(path)
    try:
        return loader(name)
    except (OSError, ValueError) as exc:
        where = "local directory" if os.path.isdir(name) else "Hub id or path"
        msg = " ".join(str(exc).split())[:300]
        raise OSError(f"cannot load the {kind} component from {where} {name!r}: {msg}") from None


def saved_settings(saved: dict | None) -> dict:
    """A saved sub-processor's settings without its bookkeeping keys (class name, ``auto_map``)."""
    return {k: v for k, v in (saved or {}).items()
            if not k.startswith("_") and k != "auto_map" and not k.endswith("_type")}


def hubert_feature_extractor(settings: dict | None = None, keep_normalization: bool = False) -> Wav2Vec2FeatureExtractor:
    """HuBERT's input normalisation at 16 kHz with an attention mask (``settings`` of a saved extractor kept).
    ``do_normalize`` is forced on unless ``keep_normalization`` (the authors' prompt style: their code feeds HuBERT
    what the backbone's own ``preprocessor_config.json`` says)."""
    settings = saved_settings(settings)
    settings.update(sampling_rate=16000, return_attention_mask=True)
    if not keep_normalization:
        settings["do_normalize"] = True
    settings.setdefault("feature_size", 1)
    settings.setdefault("padding_value", 0.0)
    return Wav2Vec2FeatureExtractor(**settings)
