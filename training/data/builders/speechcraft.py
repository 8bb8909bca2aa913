"""SpeechCraft (expressive speech with natural-language descriptions) -> audio-only EmoCue records.

Confirmed (thuhcsi/SpeechCraft README and the released annotation pipeline, ``AutomaticPipeline/Clustering.py`` and
``llama-ft/llama_infer.py``): the annotation JSON is an object keyed ``<corpus>_<clip>`` (``LJSpeech_LJ010-0227``),
each value holding ``"labels"``, a tab-separated ``key:value`` string
(``age:..\\tgender:..\\tpitch:low|normal|high\\tvolume:low|normal|high\\tspeed:slow|normal|fast\\temotion:..\\t
transcription: ...``), and a description: ``"text_style_target"`` (the template sentence written by the clustering
step) or ``"llama-instruction"`` (the LLM rewrite; preferred when both are present). Label values for pitch / speed /
volume are low|normal|high, slow|normal|fast, low|normal|high. The audio of such a key is looked up as the key
itself, then as the clip part after the corpus prefix (``LJ010-0227``) and as ``<corpus>/<clip>``.

Assumed for the released description files: the description may sit under ``description``, ``caption``,
``llama-instruction``, ``instruction``, ``text_style_target``, ``text`` or ``prompt``; an entry with none of these
keys is an error naming the file, the entry and the keys found (an empty one is skipped and counted). JSON Lines or
a JSON list with an audio path field (``audio``, ``audio_path``, ``path``, ``wav``, ``file``) and structured
``pitch``/``speed``/``volume``|``energy``/``emotion``/``transcript`` fields are read too. Chinese label keys
(音高, 语速, 音量, 情感/语气, 文本) are mapped.

Records: ``audio`` = the resolved file (relative paths are taken under ``media_dir``), ``video`` null,
``modality`` "audio", ``subtitle`` = the transcript, ``cues.audio`` = pitch / energy / speed phrases from the labels
(or the description's sentences when there are no labels).
"""

from __future__ import annotations

from pathlib import Path

from processing_xemogpt.vocabulary import AUDIO_EXTENSIONS

from .common import (BuildResult, FormatError, MediaPolicy, MediaResolver, RecordSink,
                     as_path_list, clean_text, iter_jsonish, make_record, split_sentences)

_DESC_KEYS = ("description", "caption", "llama-instruction", "instruction", "text_style_target", "text", "prompt")
_PATH_KEYS = ("audio", "audio_path", "path", "wav", "file", "filepath", "audio_filepath")
_ID_KEYS = ("id", "name", "key", "utt", "utt_id")
_ZH_KEYS = {"音高": "pitch", "语速": "speed", "音量": "volume", "情感": "emotion", "语气": "tone", "文本": "transcription",
            "年龄": "age", "性别": "gender"}


def parse_labels(labels) -> dict[str, str]:
    """``"pitch:low\\tspeed:fast\\t..."`` (or a dict) -> ``{"pitch": "low", ...}`` with normalised keys."""
    if isinstance(labels, dict):
        items = labels.items()
    else:
        items = []
        for part in str(labels or "").split("\t"):
            if ":" in part or "：" in part:
                k, _, v = part.replace("：", ":").partition(":")
                items.append((k, v))
    out = {}
    for k, v in items:
        k = clean_text(k).lower()
        k = _ZH_KEYS.get(k, k)
        if k in ("energy",):
            k = "volume"
        if k in ("transcript", "text"):
            k = "transcription"
        out[k] = clean_text(v)
    return out


def audio_cues(labels: dict[str, str]) -> list[str]:
    cues = []
    if labels.get("pitch"):
        cues.append(f"{labels['pitch']} pitch")
    if labels.get("volume"):
        cues.append(f"{labels['volume']} energy")
    if labels.get("speed"):
        cues.append(f"{labels['speed']} speaking speed")
    if labels.get("emotion") and labels["emotion"].lower() != "neutral":
        cues.append(f"{labels['emotion'].lower()} tone of voice")
    return cues


def build_speechcraft(csv=None, media_dir=None, audio_dir=None, skip_missing=False, require_media=True,
                      **_unused) -> BuildResult:
    """Build audio-only records from SpeechCraft annotation JSON / JSONL file(s)."""
    paths = as_path_list(csv)
    if not paths:
        raise ValueError("speechcraft: give the annotation JSON/JSONL file (--csv PATH)")
    policy = MediaPolicy(None, audio_dir or media_dir, skip_missing, require_media)
    sink = RecordSink("speechcraft", policy, paths[0])
    root = Path(audio_dir or media_dir).resolve() if (audio_dir or media_dir) else None
    resolver = MediaResolver(root, AUDIO_EXTENSIONS) if root else None
    for path in paths:
        for n, (key, obj) in enumerate(iter_jsonish(path), 1):
            labels = parse_labels(obj.get("labels", ""))
            for k in ("pitch", "speed", "volume", "energy", "emotion", "transcript", "transcription", "gender", "age"):
                if obj.get(k) and not isinstance(obj.get(k), (dict, list)):
                    labels.setdefault("volume" if k == "energy" else ("transcription" if k == "transcript" else k),
                                      clean_text(obj[k]))
            rid = key or next((str(obj[k]) for k in _ID_KEYS if obj.get(k)), None)
            rel = next((str(obj[k]) for k in _PATH_KEYS if isinstance(obj.get(k), str) and obj.get(k)), None)
            if rid is None and rel is None:
                sink.result_.warnings.append(f"{path}: entry {n} has neither an id nor an audio path; skipped")
                continue
            rid = rid or Path(rel).stem
            present = [k for k in _DESC_KEYS if isinstance(obj.get(k), str)]
            if not present:
                entry = repr(key) if key else n
                raise FormatError(f"{path}: entry {entry} has no description (expected one of "
                                  f"{', '.join(_DESC_KEYS)}; found {', '.join(map(str, obj)) or 'no keys'})")
            desc = next((clean_text(obj[k]) for k in present if clean_text(obj[k])), "")
            if not desc:
                sink.empty()
                continue
            audio = _resolve([rel] if rel else _key_candidates(rid), root, resolver, policy, sink)
            if audio is None:
                continue
            cues = audio_cues(labels) or split_sentences(desc)
            sink.add(make_record(Path(rid).stem if "/" in rid else rid, video=None, audio=audio,
                                 subtitle=labels.get("transcription", ""), emotion=labels.get("emotion", "").lower(),
                                 cues={"audio": cues}, description=desc, modality="audio"))
    return sink.result()


def _key_candidates(key: str) -> list[str]:
    """``LJSpeech_LJ010-0227`` -> itself, ``LJ010-0227``, ``LJSpeech/LJ010-0227`` (keys join corpus and clip)."""
    corpus, sep, clip = key.partition("_")
    return [key, clip, f"{corpus}/{clip}"] if sep and clip else [key]


def _resolve(names, root, resolver, policy, sink):
    for name in names:
        p = Path(name)
        hit = None
        if p.is_absolute() and p.is_file():
            hit = p
        elif root is not None and (root / p).is_file():
            hit = root / p
        elif resolver is not None:
            hit = resolver.find(p.name)
        if hit is not None:
            return sink.checked(names[0], hit, "audio")
    name, p = names[0], Path(names[0])
    if not policy.require_media:
        return str(root / p) if root is not None else name
    if resolver is None:
        raise ValueError(f"{sink.source}: pass --media-dir (the audio root) to resolve SpeechCraft audio paths")
    return sink.missing(name, "audio", f"under {root}")
