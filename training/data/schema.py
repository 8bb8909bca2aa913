"""The EmoCue record (paper §IV; ``shared/DESIGN.md`` "Data") as ``datasets.Features``.

One record::

    id            string   unique id
    video         string   path to the clip (mp4 ...); None only for audio-only records
    audio         string   path to an audio file, or None = "use the audio track of ``video``"
    subtitle      string   what is said ("" when unknown)
    emotion       string   emotion label ("" when unknown)
    cues          {visual: [string], audio: [string], global: [string]}
    description   string   the full explanation (cues + reasoning to the emotion); "" only in a label-only record
    short_caption string   EmoCue-ShortCaption style short cue list ("" when absent)
    modality      string   "multimodal" | "visual" | "audio"

Optional: ``spans`` ``{visual: [{cue, start, end}], audio: [...], global: [...]}`` — where a cue is in the clip, in
seconds (:mod:`training.data.spans` says why it is a field of its own; :data:`SPANS_FEATURE` is its ``datasets``
type). Records without it stay valid; a loaded file where some records have spans gives the others empty lists.

A *label-only* record (:func:`is_label_only`) carries an ``emotion`` and no ``description`` and no ``cues`` (the
corpora people have: DFEW, MAFW, MER2023-25, RAVDESS label files). Stage 4 trains on them with the emotion reward
(:mod:`training.data.labels` maps label sets onto each other); stages 1-3 need text and leave them out.

Media columns hold paths (the default, portable and decodable without extra packages). :data:`EMOCUE_MEDIA_FEATURES`
is the variant with ``datasets.Video``/``datasets.Audio`` columns; in ``datasets`` 5.x their decoding needs the
optional ``torchcodec`` package, so it is built with ``decode=False`` (the column stores ``{"path", "bytes"}``) —
see :func:`with_media_features`.
"""

from __future__ import annotations

import datasets

from processing_xemogpt.vocabulary import AUDIO as MODALITY_AUDIO
from processing_xemogpt.vocabulary import CUE_DIMENSIONS as CUE_KEYS
from processing_xemogpt.vocabulary import MODALITIES
from processing_xemogpt.vocabulary import MULTIMODAL as MODALITY_MULTIMODAL
from processing_xemogpt.vocabulary import VISUAL as MODALITY_VISUAL

COLUMNS: tuple[str, ...] = (
    "id", "video", "audio", "subtitle", "emotion", "cues", "description", "short_caption", "modality",
)
STRING_COLUMNS: tuple[str, ...] = ("id", "subtitle", "emotion", "description", "short_caption", "modality")
MEDIA_COLUMNS: tuple[str, ...] = ("video", "audio")

CUES_FEATURE = {key: datasets.List(datasets.Value("string")) for key in CUE_KEYS}
OPTIONAL_COLUMNS: tuple[str, ...] = ("spans",)
SPANS_FEATURE = {
    key: datasets.List({"cue": datasets.Value("string"), "start": datasets.Value("float64"),
                        "end": datasets.Value("float64")})
    for key in CUE_KEYS
}

EMOCUE_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "video": datasets.Value("string"),
        "audio": datasets.Value("string"),
        "subtitle": datasets.Value("string"),
        "emotion": datasets.Value("string"),
        "cues": CUES_FEATURE,
        "description": datasets.Value("string"),
        "short_caption": datasets.Value("string"),
        "modality": datasets.Value("string"),
    }
)

# the synthetic generator adds its ground-truth factor values (training/data/synthetic.py)
SYNTHETIC_FACTOR_NAMES: tuple[str, ...] = (
    "mouth", "brows", "head", "scene", "pitch", "intonation", "loudness", "rhythm",
)
SYNTHETIC_FEATURES = datasets.Features(
    {**EMOCUE_FEATURES, "factors": {name: datasets.Value("string") for name in SYNTHETIC_FACTOR_NAMES}}
)
# ... and, with partial-clip cues (``--partial-cues``), the spans of its cues
SYNTHETIC_SPAN_FEATURES = datasets.Features({**SYNTHETIC_FEATURES, "spans": SPANS_FEATURE})


def media_features(decode: bool = False) -> datasets.Features:
    """EmoCue features with ``datasets.Video``/``datasets.Audio`` media columns.

    ``decode=True`` needs ``torchcodec`` in ``datasets`` 5.x (not a project dependency); the default ``decode=False``
    keeps ``{"path", "bytes"}`` dicts and works offline with the base install.
    """
    return datasets.Features(
        {
            **EMOCUE_FEATURES,
            "video": datasets.Video(decode=decode),
            "audio": datasets.Audio(sampling_rate=16000, decode=decode),
        }
    )


EMOCUE_MEDIA_FEATURES = media_features(decode=False)


def with_media_features(dataset: "datasets.Dataset", decode: bool = False) -> "datasets.Dataset":
    """Cast the path columns of an EmoCue dataset to ``Video``/``Audio`` features (None stays None)."""
    features = dataset.features.copy()
    features["video"] = datasets.Video(decode=decode)
    features["audio"] = datasets.Audio(sampling_rate=16000, decode=decode)
    return dataset.cast(features)


def has_cues(record) -> bool:
    """Whether a record lists at least one cue in any dimension."""
    cues = record.get("cues") if hasattr(record, "get") else None
    return isinstance(cues, dict) and any(cues.get(key) for key in CUE_KEYS)


def is_label_only(record) -> bool:
    """A record with an ``emotion`` label and neither a ``description`` nor any cue (stage 4's label-only data)."""
    return (bool(str(record.get("emotion") or "").strip()) and not str(record.get("description") or "").strip()
            and not has_cues(record))


def empty_record(**fields) -> dict:
    """A record with every column filled with its neutral value, updated with ``fields``."""
    record = {
        "id": "", "video": None, "audio": None, "subtitle": "", "emotion": "",
        "cues": {key: [] for key in CUE_KEYS}, "description": "", "short_caption": "", "modality": MODALITY_MULTIMODAL,
    }
    record.update(fields)
    return record
