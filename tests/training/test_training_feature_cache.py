"""The frozen-feature cache: keys by content + encoder, hits/misses, incremental (interrupted) extraction."""

from __future__ import annotations

import pytest
import torch

from training.feature_cache import CachedDataset, FeatureCache, file_key, text_key


def _files(tmp_path, n):
    paths = []
    for i in range(n):
        p = tmp_path / f"clip{i}.bin"
        p.write_bytes(bytes([i]) * 100)
        paths.append(str(p))
    return paths


def _compute(calls):
    def compute(items):
        calls.append(list(items))
        return [{"features": torch.full((2, 3), float(open(p, "rb").read(1)[0]))} for p in items]

    return compute


def test_hit_miss_and_keys(tmp_path):
    paths = _files(tmp_path, 5)
    same_content = tmp_path / "copy.bin"
    same_content.write_bytes(open(paths[2], "rb").read())
    assert file_key(paths[2]) == file_key(same_content)  # content, not name
    assert file_key(paths[1]) != file_key(paths[2])
    assert text_key("a smile") != text_key("a frown")

    cache = FeatureCache(tmp_path / "cache", "video|encoderA")
    calls = []
    keys = [file_key(p) for p in paths]
    stats = cache.fill(paths, keys, _compute(calls), batch_size=2, disable_progress=True)
    assert stats == {"hits": 0, "misses": 5, "failed": []} and sum(len(c) for c in calls) == 5
    calls.clear()
    stats = cache.fill(paths + [str(same_content)], keys + [file_key(same_content)], _compute(calls), batch_size=2,
                       disable_progress=True)
    assert stats == {"hits": 6, "misses": 0, "failed": []} and calls == []  # the copy hits the entry of its twin
    assert torch.equal(cache.get(keys[3])["features"], torch.full((2, 3), 3.0))
    # another encoder name is another namespace
    other = FeatureCache(tmp_path / "cache", "video|encoderB")
    assert other.missing(keys) == keys
    ds = CachedDataset({"x": (cache, keys, "features")}, extra={"i": list(range(5))}, preload=True)
    assert len(ds) == 5 and ds[4]["i"] == 4 and ds[4]["x"][0, 0] == 4.0


def test_interrupted_extraction_keeps_finished_entries(tmp_path):
    paths = _files(tmp_path, 7)
    keys = [file_key(p) for p in paths]
    cache = FeatureCache(tmp_path / "cache", "audio|enc")
    done = []

    def crashing(items):
        if len(done) >= 2:  # the third batch dies (e.g. the job is killed)
            raise KeyboardInterrupt
        done.append(items)
        return [{"features": torch.zeros(1)} for _ in items]

    with pytest.raises(KeyboardInterrupt):
        cache.fill(paths, keys, crashing, batch_size=2, disable_progress=True)
    assert len([k for k in keys if k in cache]) == 4  # two finished batches are on disk
    assert not list((tmp_path / "cache").rglob(".tmp-*"))  # no half-written entry
    calls = []
    stats = cache.fill(paths, keys, _compute(calls), batch_size=2, disable_progress=True)
    assert stats == {"hits": 4, "misses": 3, "failed": []} and sorted(p for c in calls for p in c) == sorted(paths[4:])


@pytest.mark.parametrize("workers", [0, 1])
def test_items_that_fail_to_load_are_listed_and_the_rest_cached(tmp_path, workers):
    """A load error of the expected kind (a clip that cannot be decoded) costs only that item, also when loading
    runs in DataLoader worker processes; any other error still stops the extraction."""
    from processing_xemogpt.media import MediaError

    paths = _files(tmp_path, 5)
    keys = [file_key(p) for p in paths]

    def load(path):
        if path == paths[1] or path == paths[3]:
            raise MediaError(f"{path}: not a readable media file (InvalidDataError: Invalid data)")
        return path

    cache = FeatureCache(tmp_path / "cache", "video|enc")
    calls = []
    stats = cache.fill(paths, keys, _compute(calls), batch_size=2, disable_progress=True, load=load,
                       num_workers=workers, load_errors=(MediaError,))
    assert stats["failed"] == [(paths[1], f"{paths[1]}: not a readable media file (InvalidDataError: Invalid data)"),
                               (paths[3], f"{paths[3]}: not a readable media file (InvalidDataError: Invalid data)")]
    assert cache.missing(keys) == [keys[1], keys[3]] and sorted(p for c in calls for p in c) == [paths[0], paths[2],
                                                                                                  paths[4]]
    with pytest.raises(MediaError):
        FeatureCache(tmp_path / "cache2", "video|enc").fill(paths, keys, _compute([]), batch_size=2,
                                                             disable_progress=True, load=load)
