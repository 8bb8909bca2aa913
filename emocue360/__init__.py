"""EmoCue-360 (XEmoGPT §V): the cue-level evaluation metric, its extractors, BLEU/CIDEr and reports.

Python API (no ``evaluate`` needed)::

    from emocue360 import compute_emocue360, score_cues, format_table, score_all
    compute_emocue360(predictions, references)          # texts or cue dicts -> P/R/F1 per dimension + mean

``evaluate.load("emocue360")`` loads :mod:`emocue360.emocue360` (the metric script) and gives the same numbers.
The LLM client is the project's :mod:`llm_client` (``emocue360/llm_backends.py`` links to it so that the metric folder
also works on its own); the reply cache shared with the data pipeline: :mod:`emocue360.cache`.
"""

from .extractors import LLMExtractor, RulesExtractor, get_extractor, normalize_cues
from .pipeline import PRESETS, compute_emocue360, validate_inputs
from .report import format_table, score_all
from .scoring import DIMENSIONS, load_encoder, score_cues
from .text_metrics import bleu_cider

__all__ = [
    "DIMENSIONS",
    "PRESETS",
    "LLMExtractor",
    "RulesExtractor",
    "bleu_cider",
    "compute_emocue360",
    "format_table",
    "get_extractor",
    "load_encoder",
    "normalize_cues",
    "score_all",
    "score_cues",
    "validate_inputs",
]
