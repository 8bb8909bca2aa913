"""EmoCue-360: cue-level precision/recall/F1 for explainable multimodal emotion recognition (XEmoGPT §V, eq. 9-11).

Loadable with ``evaluate.load("emocue360")`` (from the repository root, or from anywhere once installed in the
evaluate module cache with ``python -m emocue360.install``). The helpers it needs sit beside it and are imported
relatively, so the folder can be published as a Space as it is. See README.md (the metric card).
"""

import datasets
import evaluate

# Every sibling module is imported here on its own line without a trailing comment: evaluate copies exactly the
# relative imports it finds at the start of a line (a comment on the line would be read as a "From:" URL).
from .cache import JSONCache
from .llm_backends import OpenAIChatBackend
from .prompts import TEMPLATES
from .rules_lexicon import EMOTION_WORDS
from .rules_text import split_sentences
from .rules import RulesExtractor
from .extractors import EXTRACTORS
from .scoring import DIMENSIONS
from .text_metrics import bleu_cider
from .pipeline import PRESETS, compute_emocue360, validate_inputs

_CITATION = """\
@article{xemogpt,
  title   = {XEmoGPT: An Explainable Multimodal Emotion Recognition Framework with Cue-Level Perception and Reasoning},
  journal = {arXiv preprint},
  year    = {2026}
}
"""

_DESCRIPTION = """\
EmoCue-360 compares a generated emotional description with a human one at the level of atomic emotional cues.
Both texts are decomposed into visual, audio and global (emotional-state) cue lists; every cue is embedded with a
sentence encoder (all-MiniLM-L6-v2 by default). Precision is the mean, over predicted cues, of the best cosine
similarity to a reference cue (eq. 10); recall is the mirror (eq. 11); F1 is their harmonic mean. Values are computed
per sample and macro-averaged; `mean` is the average of the six precision/recall values, as in Table II.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of generated descriptions (str) or cue dicts {"visual": [...], "audio": [...], "global": [...]}
        ("auditory"/"emotional" are accepted as key names).
    references: list of the same length, in either form.
    extractor: "rules" (offline, deterministic, default), "openai" (OpenAI-compatible endpoint) or "hf" (local
        transformers chat model); used only for free-text inputs.
    model: the LLM for "openai" (default "deepseek-chat") or "hf" (path or id).
    template: extraction prompt template 1-5 (LLM extractors).
    base_url, api_key, timeout, max_retries, max_workers: OpenAI-compatible endpoint settings.
    cache_dir: where LLM extractions are cached (default $EMOCUE360_CACHE or $HF_HOME/emocue360).
    encoder: sentence-transformers name/path or an object with .encode(); default all-MiniLM-L6-v2 (offline copy).
    device: device of the encoder (and of the "hf" model).
    batch_size: encoder batch size.
    preset: "default" or "official" (the authors' scorer: audio cues containing "text" are dropped on both sides).
    drop_subtitle_cues: override the preset's subtitle filter.
    return_per_sample: add `per_sample` (per-sample P/R/F1; None where the reference has no cue of a dimension).
    return_cues: add the extracted `cues`.
    include_text_metrics: add BLEU-1, BLEU-4 and CIDEr (pycocoevalcap) when both sides are texts.
    progress: show progress bars on long runs.
Returns:
    visual_precision, visual_recall, visual_f1, audio_*, global_*: fractions in [0, 1] (None if no sample has a
        reference cue in that dimension); {dim}_support: number of samples scored for the dimension;
    mean: average of the six precision/recall values.
Examples:
    >>> import evaluate
    >>> emocue360 = evaluate.load("emocue360")
    >>> r = emocue360.compute(predictions=[{"visual": ["furrowed brows"], "audio": ["trembling voice"], "global": ["sad"]}],
    ...                       references=[{"visual": ["furrowed brows"], "audio": ["shaky voice"], "global": ["sad"]}])
    >>> round(r["visual_f1"], 3)
    1.0
"""

__all__ = ["EmoCue360", "JSONCache", "OpenAIChatBackend", "TEMPLATES", "RulesExtractor", "EXTRACTORS"]

_CUES = {d: datasets.Sequence(datasets.Value("string")) for d in DIMENSIONS}
_TEXT = datasets.Value("string")


class EmoCue360(evaluate.Metric):
    """EmoCue-360 (XEmoGPT §V): cue extraction, cue vectorisation, eq. 10-11 precision/recall and F1."""

    def _info(self):
        forms = [(_TEXT, _TEXT), (dict(_CUES), dict(_CUES)), (_TEXT, dict(_CUES)), (dict(_CUES), _TEXT)]
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=[datasets.Features({"predictions": p, "references": r}) for p, r in forms],
            codebase_urls=["https://github.com/W11H08Z/XEmoGPT"],
            reference_urls=["https://github.com/W11H08Z/XEmoGPT/tree/main/EmoCue-360"],
        )

    def compute(self, *, predictions=None, references=None, **kwargs):
        """Validate the inputs (one clear error per problem) and normalise cue dicts, then compute.

        With neither argument, the batches given to ``add``/``add_batch`` are scored (evaluate's usual flow).
        """
        if kwargs.get("preset", "default") not in PRESETS:
            raise ValueError(f"unknown preset {kwargs['preset']!r}; choose one of {list(PRESETS)}")
        if predictions is None and references is None:
            return super().compute(**kwargs)
        predictions, references = validate_inputs(predictions, references)
        return super().compute(predictions=predictions, references=references, **kwargs)

    def add_batch(self, *, predictions=None, references=None, **kwargs):
        """evaluate's ``add_batch`` with the same validation and cue-dict normalisation as ``compute``."""
        predictions, references = validate_inputs(predictions, references)
        return super().add_batch(predictions=predictions, references=references, **kwargs)

    def add(self, *, prediction=None, reference=None, **kwargs):
        """evaluate's ``add`` with the same validation and cue-dict normalisation as ``compute``."""
        (prediction,), (reference,) = validate_inputs([prediction], [reference])
        return super().add(prediction=prediction, reference=reference, **kwargs)

    def _compute(self, predictions, references, include_text_metrics=False, **kwargs):
        result = compute_emocue360(list(predictions), list(references), **kwargs)
        if include_text_metrics:
            if all(isinstance(x, str) for x in (*predictions, *references)):
                result.update(bleu_cider(list(predictions), list(references)))
            else:
                result.update({"bleu_1": None, "bleu_4": None, "cider": None})
        return result
