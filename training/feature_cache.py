"""On-disk cache of frozen-encoder features (paper §III-D stages 1 and 2 keep CLIP, HuBERT and the text encoders
frozen, so their outputs are computed once and every epoch trains from the cache).

Layout::

    <root>/<encoder-slug>/encoder.json          the full encoder name (and anything else that identifies it)
    <root>/<encoder-slug>/<k[:2]>/<k>.safetensors   one entry per input

An entry's key ``k`` is the SHA-256 of the input file's *content* (:func:`file_key`) or of a text (:func:`text_key`);
the encoder slug is derived from the encoder name, which must say everything that changes the features (weights
fingerprint, frame count, feature selection...). Entries are written one by one, atomically (temporary file +
``os.replace``), as soon as they are computed, so an interrupted extraction keeps everything finished before the
interruption and the next run only computes what is missing. Several processes may fill one cache concurrently
(distinct keys, atomic renames).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
from safetensors.torch import load_file, save_file

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_key(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (memoised per process by path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    memo = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if memo in _HASH_CACHE:
        return _HASH_CACHE[memo]
    h = hashlib.sha256()
    with open(p, "rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            h.update(block)
    key = h.hexdigest()
    _HASH_CACHE[memo] = key
    return key


def content_keys(paths: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``({path: file_key}, {path: error})`` of ``paths``: a file that cannot be read (gone since it was listed) gets
    a one-line error instead of a key."""
    keys, failed = {}, {}
    for p in dict.fromkeys(paths):
        try:
            keys[p] = file_key(p)
        except OSError as exc:
            failed[p] = f"{p}: cannot read the file ({exc.strerror or exc})"
    return keys, failed


def text_key(text: str) -> str:
    return hashlib.sha256(("text\0" + text).encode("utf-8")).hexdigest()


def weights_fingerprint(module: torch.nn.Module, max_bytes: int = 64 << 20) -> str:
    """A short hash identifying a module's weights (all bytes when small, else shapes + strided samples)."""
    h = hashlib.sha256()
    total = sum(p.numel() * p.element_size() for p in module.state_dict().values())
    for name, t in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        t = t.detach().to("cpu").contiguous()
        if total > max_bytes:
            flat = t.reshape(-1)
            t = flat[:: max(1, flat.numel() // 4096)]
        h.update(t.float().numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes())
    return h.hexdigest()[:16]


def slugify(name: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80].strip("_")
    return f"{base}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"


class FeatureCache:
    """Per-input entries (dicts of tensors) of one encoder, under ``root``."""

    def __init__(self, root: str | os.PathLike, encoder_name: str, dtype: torch.dtype | str | None = None):
        self.encoder_name = encoder_name
        self.dir = Path(root) / slugify(encoder_name)
        self.dir.mkdir(parents=True, exist_ok=True)
        meta = self.dir / "encoder.json"
        if not meta.exists():
            tmp = meta.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(json.dumps({"encoder": encoder_name}, indent=1))
            os.replace(tmp, meta)
        if isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        self.dtype = dtype
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.safetensors"

    def __contains__(self, key: str) -> bool:
        return self.path(key).exists()

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        p = self.path(key)
        if not p.exists():
            return None
        return load_file(str(p))

    def put(self, key: str, tensors: dict[str, torch.Tensor]) -> None:
        p = self.path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        out = {}
        for k, v in tensors.items():
            v = v.detach().to("cpu")
            if self.dtype is not None and v.is_floating_point():
                v = v.to(self.dtype)
            out[k] = v.contiguous()
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=".tmp-", suffix=".safetensors")
        os.close(fd)
        try:
            save_file(out, tmp)
            os.replace(tmp, p)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def missing(self, keys: Iterable[str]) -> list[str]:
        return [k for k in keys if k not in self]

    def fill(
        self,
        items: Sequence,
        keys: Sequence[str],
        compute: Callable[[list], list[dict[str, torch.Tensor]]],
        batch_size: int = 16,
        desc: str = "extracting features",
        disable_progress: bool = False,
        load: Callable | None = None,
        num_workers: int = 0,
        load_errors: tuple[type[BaseException], ...] = (),
    ) -> dict:
        """Compute and store the entries of ``items`` whose ``keys`` are not cached yet, ``batch_size`` at a time.

        ``load(item)`` (optional) runs in ``num_workers`` DataLoader workers (decoding media); ``compute(list)`` gets
        a batch of loaded items and returns one dict of tensors per item. Entries are stored as soon as their batch
        is done. Duplicated keys are computed once. An item whose ``load`` raises one of ``load_errors`` gets no
        entry and is listed with the error's message in ``"failed"`` (the other items go on). Returns ``{"hits":
        ..., "misses": ..., "failed": [(item, message), ...]}`` for this call.
        """
        from tqdm.auto import tqdm

        todo: dict[str, object] = {}
        hits = 0
        for item, key in zip(items, keys):
            if key in todo:
                continue
            if key in self:
                hits += 1
            else:
                todo[key] = item
        self.hits += hits
        self.misses += len(todo)
        pending = list(todo.items())
        if not pending:
            return {"hits": hits, "misses": 0, "failed": []}
        loader = torch.utils.data.DataLoader(
            _LoadDataset(pending, load, load_errors), batch_size=batch_size, shuffle=False, num_workers=num_workers,
            collate_fn=_identity,
        )
        failed = []
        with tqdm(total=len(pending), desc=desc, unit="item", disable=disable_progress) as bar:
            for batch in loader:
                failed += [(todo[k], x.message) for k, x in batch if isinstance(x, _LoadFailed)]
                batch = [(k, x) for k, x in batch if not isinstance(x, _LoadFailed)]
                results = compute([x for _, x in batch]) if batch else []
                if len(results) != len(batch):
                    raise RuntimeError(f"compute returned {len(results)} results for {len(batch)} items")
                for (key, _), tensors in zip(batch, results):
                    self.put(key, tensors)
                bar.update(len(batch))
        return {"hits": hits, "misses": len(pending), "failed": failed}


def _identity(batch):
    return batch


class _LoadFailed:
    """An item whose ``load`` raised one of the expected errors (only its message crosses the worker boundary)."""

    def __init__(self, message: str):
        self.message = message


class _LoadDataset(torch.utils.data.Dataset):
    def __init__(self, pending, load, load_errors=()):
        self.pending = pending
        self.load = load
        self.load_errors = tuple(load_errors)

    def __len__(self):
        return len(self.pending)

    def __getitem__(self, i):
        key, item = self.pending[i]
        if self.load is None:
            return key, item
        try:
            return key, self.load(item)
        except self.load_errors as exc:
            return key, _LoadFailed(" ".join(str(exc).split()))


class CachedDataset(torch.utils.data.Dataset):
    """Rows assembled from cache entries: ``fields`` maps an output name to ``(cache, keys, tensor_name)``.

    With ``preload=True`` every entry is read into memory once (small datasets); otherwise entries are read from disk
    per item (large datasets; the OS page cache keeps hot entries).
    """

    def __init__(self, fields: dict[str, tuple[FeatureCache, Sequence[str], str]], extra: dict[str, Sequence] | None = None,
                 preload: bool = False, dtype: torch.dtype = torch.float32):
        lengths = {len(keys) for _, keys, _ in fields.values()}
        if len(lengths) != 1:
            raise ValueError(f"all fields need one key per row, got lengths {lengths}")
        self.n = lengths.pop()
        self.fields = fields
        self.extra = extra or {}
        self.dtype = dtype
        self._memory: dict[str, list] | None = None
        if preload:
            self._memory = {name: self._load_all(cache, keys, tname) for name, (cache, keys, tname) in fields.items()}

    def _load_all(self, cache, keys, tname):
        seen: dict[str, torch.Tensor] = {}
        out = []
        for k in keys:
            if k not in seen:
                entry = cache.get(k)
                if entry is None:
                    raise KeyError(f"feature cache {cache.dir} has no entry {k}; run the extraction first")
                seen[k] = entry[tname].to(self.dtype)
            out.append(seen[k])
        return out

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        row = {}
        for name, (cache, keys, tname) in self.fields.items():
            if self._memory is not None:
                row[name] = self._memory[name][i]
            else:
                entry = cache.get(keys[i])
                if entry is None:
                    raise KeyError(f"feature cache {cache.dir} has no entry {keys[i]}; run the extraction first")
                row[name] = entry[tname].to(self.dtype)
        for name, values in self.extra.items():
            row[name] = values[i]
        return row
