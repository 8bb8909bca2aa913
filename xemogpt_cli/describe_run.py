"""``xemogpt describe`` at scale: many clips (or the windows of long clips) in batches, written to one predictions file
(:mod:`xemogpt_cli.predictions`), resumable, and sharded over the processes of ``accelerate launch``.

* **Batches** — ``batch_size`` clips per call of the checkpoint's pipeline (:class:`processing_xemogpt.XEmoGPTPipeline`:
  one left-padded ``generate`` per batch). The pipeline decodes each clip's media first, one clip at a time, so a clip
  that cannot be used (missing, unreadable, no such stream, too short) gets its one-line error in its own record and
  the rest of the batch goes on.
* **Windows** — with ``segment`` (and ``stride``), every clip is cut into time windows
  (:func:`processing_xemogpt.pipeline_xemogpt.plan_windows`) here, so that each window has its own id to resume by;
  the pipeline decodes the frames and the audio of each window with the media loaders' ``start``/``end`` (seeking,
  never decoding the clip from its start) and describes it on its own.
* **Resume** — ids already written without an error are skipped; failed ones are tried again. The settings of the
  run (input, model, answer format, modality, windows, token limit) are kept in ``PREDICTIONS.run.json``; a rerun with
  other settings is refused (``overwrite`` starts afresh).
* **Processes** — under ``accelerate launch -m xemogpt_cli describe ...`` the clips still to do are split between the
  processes (``PartialState.split_between_processes``); each appends to its own part file and the main process
  merges them into ``PREDICTIONS`` in input order once all are done (:func:`xemogpt_cli.predictions.merge`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from processing_xemogpt import media_duration
from processing_xemogpt.pipeline_xemogpt import MEDIA_ERRORS, one_line, plan_windows

from . import predictions as P
from .describe_inputs import InputItem



@dataclass(frozen=True)
class Job:
    """One output line to produce: a clip, or one window of it."""

    id: str
    item: InputItem
    start: float | None = None
    end: float | None = None
    error: str | None = None  # the clip failed before it could be cut into windows

    @property
    def clip(self) -> str:
        return self.item.clip

    @property
    def subtitle(self) -> str:
        return self.item.subtitle


def sample_of(item: InputItem, modality: str = "both"):
    """The prompt-only :class:`~training.data.sample.EmoCueSample` of an item (media paths, modality fed)."""
    from training.data.sample import EmoCueSample, sample_from_record

    from .inference import choose_modality

    if item.record is not None:
        record = item.record if modality == "both" else {**item.record, "modality": modality}
        return sample_from_record(record, feed_all_media=False, answer_format=None)
    used = choose_modality(item.clip, modality)
    return EmoCueSample(id=item.id, modality=used, video=item.clip if used != "audio" else None,
                        audio=item.clip if used != "visual" else None, subtitle=item.subtitle)


def jobs_of(items: list[InputItem], segment: float | None, stride: float | None, modality: str) -> list[Job]:
    """Every output line of the run, in input order (windows: one per window of each clip)."""
    if not segment:
        return [Job(item.id, item) for item in items]
    jobs = []
    for item in items:
        try:
            sample = sample_of(item, modality)
            kind = "video" if sample.video else "audio"
            windows = plan_windows(media_duration(sample.video or sample.audio, kind), segment, stride)
        except MEDIA_ERRORS as exc:
            jobs.append(Job(item.id, item, error=one_line(exc)))
            continue
        jobs += [Job(f"{item.id}@{a:.2f}-{b:.2f}", item, a, b) for a, b in windows]
    return jobs


class Runner:
    """Describes jobs in batches with the pipeline of one :class:`~xemogpt_cli.inference.Describer` and hands back
    the predictions records."""

    def __init__(self, describer, modality: str = "both"):
        self.describer = describer
        self.modality = modality

    def input_of(self, job: Job) -> dict:
        """The pipeline input of a job: its media files, modality, subtitle and window (one-line error if the clip
        cannot be used)."""
        sample = sample_of(job.item, self.modality)
        return {"clip": job.clip, "video": sample.video, "audio": sample.audio, "modality": sample.modality,
                "subtitle": sample.subtitle, "start": job.start, "end": job.end}

    def batches(self, jobs: list[Job], batch_size: int):
        """Records, ``batch_size`` jobs at a time, in job order: one streaming call of the pipeline for the whole run
        (it decodes the next batch while the current one generates); a job that cannot be used has its one-line
        error in its own record."""
        inputs: list[dict | str] = []
        for job in jobs:
            try:
                if job.error:
                    raise ValueError(job.error)
                inputs.append(self.input_of(job))
            except MEDIA_ERRORS as exc:
                inputs.append(one_line(exc))
        good = (x for x in inputs if isinstance(x, dict))
        results = iter(self.describer.pipeline(good, batch_size=batch_size, **self.describer.params))
        name, fmt = self.describer.name, self.describer.answer_format
        for start in range(0, len(jobs), batch_size):
            batch = [P.record(job, name, fmt, error=x) if isinstance(x, str) else P.record(job, name, fmt, next(results))
                     for job, x in zip(jobs[start : start + batch_size], inputs[start : start + batch_size])]
            if getattr(self.describer, "span_method", None) == "attention":  # --spans attention
                from .grounding import add_spans

                for rec in batch:
                    if not rec["error"] and not rec["invalid_json"]:
                        add_spans(rec, self.describer)
            yield batch

    def batch(self, jobs: list[Job]) -> list[dict]:
        """The records of one batch of jobs."""
        return [r for records in self.batches(jobs, max(1, len(jobs))) for r in records]


# ------------------------------------------------------------------------------------------------ the run
def settings_path(out: Path) -> Path:
    return out.with_name(out.stem + ".run.json")


def check_settings(out: Path, settings: dict, overwrite: bool) -> None:
    """Refuse to continue a predictions file made with other settings (``overwrite`` removes it and its parts)."""
    path = settings_path(out)
    if overwrite:
        for stale in (out, path):
            stale.unlink(missing_ok=True)
        if P.part_dir(out).is_dir():
            import shutil

            shutil.rmtree(P.part_dir(out))
        return
    if not path.is_file() or not (out.is_file() or P.part_dir(out).is_dir()):
        return
    before = json.loads(path.read_text()).get("settings", {})
    changed = [f"{k}: {before.get(k)!r} then, {v!r} now" for k, v in settings.items() if before.get(k) != v]
    if changed:
        raise ValueError(f"{out}: holds predictions made with other settings ({'; '.join(changed)}); use another "
                         "--out, or --overwrite to start afresh")


def run(items: list[InputItem], describer, out: Path | None, *, settings: dict, batch_size: int = 8,
        segment: float | None = None, stride: float | None = None, modality: str = "both", overwrite: bool = False,
        progress: bool = True, emit: Callable[[dict], None] | None = None, state=None) -> dict:
    """Describe ``items`` into ``out`` (or hand each record to ``emit`` when there is no file); returns the run's
    figures. ``state``: an accelerate ``PartialState`` (several processes share the work)."""
    world = state.num_processes if state is not None else 1
    main = state is None or state.is_main_process
    if out is not None and main:
        out.parent.mkdir(parents=True, exist_ok=True)
        check_settings(out, settings, overwrite)
    if state is not None:
        state.wait_for_everyone()
    t0 = time.perf_counter()
    jobs = jobs_of(items, segment, stride, modality)
    done = P.done_ids(out) if out is not None else set()
    todo = [j for j in jobs if j.id not in done]
    if state is not None:
        state.wait_for_everyone()  # every process has read what is done before any writes
    mine = todo
    if world > 1:
        with state.split_between_processes(todo) as share:
            mine = list(share)
    if out is not None and main:
        info = {"settings": settings, "pid": os.getpid(), "model_class": _class_path(describer.model),
                "num_processes": world, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        settings_path(out).write_text(json.dumps(info, indent=2) + "\n")
    writer = None
    if out is not None:
        writer = P.Writer(P.part_dir(out) / f"rank{state.process_index}.jsonl" if world > 1 else out)
    runner = Runner(describer, modality)
    unit = "window" if segment else "clip"
    bar = None
    if progress and main:
        from tqdm.auto import tqdm

        rank_note = f" (process 0 of {world})" if world > 1 else ""
        bar = tqdm(total=len(mine), desc=f"describe{rank_note}", unit=unit, file=sys.stderr)
    failed = 0
    t_gen = time.perf_counter()
    try:
        for records in runner.batches(mine, batch_size):
            failed += sum(1 for r in records if r["error"])
            if writer is not None:
                writer.write(records)
            if emit is not None:
                for r in records:
                    emit(r)
            if bar is not None:
                bar.update(len(records))
    finally:
        if writer is not None:
            writer.close()
        if bar is not None:
            bar.close()
    seconds = time.perf_counter() - t_gen
    if state is not None:
        state.wait_for_everyone()
    figures = {"jobs": len(jobs), "skipped_done": len(jobs) - len(todo), "described_here": len(mine),
               "failed_here": failed, "seconds": seconds, "per_second_here": len(mine) / max(seconds, 1e-9),
               "unit": unit, "num_processes": world, "wall_s": time.perf_counter() - t0}
    if out is not None and main:
        records = P.merge(out, [j.id for j in jobs])
        figures["failed"] = sum(1 for r in records if r.get("error"))
        figures["records"] = len(records)
        info = json.loads(settings_path(out).read_text())
        info.update(finished=time.strftime("%Y-%m-%d %H:%M:%S"), figures=figures)
        settings_path(out).write_text(json.dumps(info, indent=2) + "\n")
    return figures


def _class_path(model) -> str:
    cls = type(model)
    return f"{cls.__module__}.{cls.__name__}"
