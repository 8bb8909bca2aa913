"""What a stage run does with records whose media cannot be used: ``data.on_bad_media: error | skip``.

Before any training the stage probes every record's media (:mod:`training.data.media_check`) and lists *all* bad
records in one report (record id, file, reason): ``error`` (default) stops there; ``skip`` trains on the rest and
appends the skipped records to ``<output_dir>/skipped_media.jsonl``. A clip that still fails later — while its frozen
features are extracted, or when a collator decodes it (it changed on disk after the check) — gets the same one-line
error naming its record, or is skipped the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .data.media_check import (REPORT_LINES, BadMedia, BadMediaError, MediaChecker, MediaGuard, SkippedMediaLog,
                               bad_from_error, check_on_bad_media, without_bad)

SKIPPED_FILE = "skipped_media.jsonl"
BAD_FILE = "bad_media.jsonl"  # error mode, more bad records than the message shows: the full list
PROBE_MEMO = "media_probes.json"  # in cache.dir: probe results by path, size and modification time


class StageMedia:
    """The bad-media handling of one stage run (one per process; only the main process writes and prints).
    ``StageMedia()``: ``error`` mode, no output folder, no probe memo."""

    def __init__(self, mode: str = "error", stage: str = "", out_dir=None, cache_dir=None, is_main: bool = True):
        self.mode = check_on_bad_media(mode)
        self.stage = stage
        self.out_dir = Path(out_dir) if out_dir else None
        self.is_main = is_main
        self.checker = MediaChecker(Path(cache_dir) / PROBE_MEMO if cache_dir else None)
        self.log = SkippedMediaLog(self.out_dir / SKIPPED_FILE if self.out_dir else None)
        if is_main:
            self.log.reset()

    @classmethod
    def from_config(cls, cfg, stage: str, is_main: bool = True) -> "StageMedia":
        """From ``data.on_bad_media``, ``training.output_dir`` and ``cache.dir`` (the probe memo lives there)."""
        return cls(cfg.on_bad_media, stage, cfg.output_dir, cfg.cache_dir, is_main)

    def check(self, records: Sequence, what: str, kinds: Sequence[str], feed_all_media: bool = True) -> list:
        """``records`` less the bad ones (``skip``), or a :class:`BadMediaError` listing every bad one."""
        bad = self.checker.check_records(records, kinds, feed_all_media, progress=self.is_main,
                                         desc=f"checking media ({what})")
        return self.handle(records, bad, what)

    def handle(self, records: Sequence, bad: Sequence[BadMedia], what: str,
               problem: str = "unusable media") -> list:
        if not bad:
            return list(records)
        n = len({b.record_id for b in bad})
        if self.mode == "error":
            full = None
            if len(bad) > REPORT_LINES and self.is_main and self.out_dir is not None:
                full = self.out_dir / BAD_FILE
                full.parent.mkdir(parents=True, exist_ok=True)
                full.write_text("".join(json.dumps(b.to_dict(), ensure_ascii=False) + "\n" for b in bad))
            raise BadMediaError(bad, header=f"{what}: {n} of {len(records)} records have {problem} "
                                            "(data.on_bad_media: skip trains on the rest)", full_list=full)
        if self.is_main:
            self.log.add(bad, what, self.stage)
            print(f"[{self.stage}] {what}: skipped {n} of {len(records)} records with {problem} "
                  f"(data.on_bad_media: skip; listed in {self.log.path})", flush=True)
        kept = without_bad(records, bad)
        if not kept:
            raise BadMediaError(bad, header=f"{what}: none of its {len(records)} records has usable media")
        return kept

    def fill_failures(self, records: Sequence, media_of, failed: dict, missing: set, what: str) -> list:
        """``records`` less (or a report of) those whose media gave no frozen features: ``media_of(record)`` lists its
        ``(kind, path)``s, ``failed`` maps a ``(kind, path)`` to this process's load error, ``missing`` holds every
        ``(kind, path)`` left without a cache entry (by any process)."""
        bad = []
        for r in records:
            for kind, path in media_of(r):
                if (kind, path) in missing:
                    reason = failed.get((kind, path))
                    bad.append(bad_from_error(r["id"], path, reason) if reason else BadMedia(
                        str(r["id"]), path, f"no {kind} features: it failed to decode in another process"))
                    break
        return self.handle(records, bad, what, "media that failed to decode while extracting features")

    def guard(self) -> MediaGuard:
        """The guard of media loaded during training (collators)."""
        return MediaGuard(self.mode, self.log, self.stage, "during training")
