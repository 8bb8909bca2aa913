"""Text structure for the rules extractor (:mod:`emocue360.rules`): quotes, sentences, section openings, clauses.

* :func:`protect_quotes` replaces quoted subtitles by placeholders (an apostrophe inside a word, as in "don't", does
  not end a single-quoted subtitle), so their punctuation does not split sentences or clauses;
* :func:`split_sentences` splits at ``. ! ?`` before a capital and at ``;``;
* :func:`read_opening` recognises a sentence opening that names a modality ("In the video,", "Acoustically,",
  "Audio cues:", "The audio has ...") or marks an inference ("Based on ...,", "Overall,", "Emotionally,");
* :func:`find_inference` finds the verb that turns evidence into a conclusion ("these cues suggest that ...");
* :func:`split_clauses` cuts a sentence into clause fragments at commas, colons and coordinating words, keeping
  fixed pairs ("back and forth", "up and down") whole.
"""

from __future__ import annotations

import re

from .rules_lexicon import MANNER_NOUNS, PERSON_NOUNS, STATE_WORDS, tokens

__all__ = ["normalise", "protect_quotes", "split_sentences", "read_opening", "find_inference", "split_clauses",
           "restore_pairs", "QUOTE_TOKEN"]

QUOTE_TOKEN = re.compile(r"QUOTE(\d+)QUOTE")
_QUOTE = re.compile(r"\"([^\"]+)\"|(?<![\w])'((?:[^'\n]|(?<=\w)'(?=\w))+?)'(?!\w)")


def normalise(text: str) -> str:
    """Straight quotes, single spaces."""
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(text.split())


def protect_quotes(text: str) -> tuple[str, list[str]]:
    """Replace each quotation by ``QUOTE<i>QUOTE`` (plus its closing ``. ! ?``, which may end the sentence)."""
    quotes: list[str] = []

    def sub(m):
        inner = next(g for g in m.groups() if g is not None).strip()
        quotes.append(inner)
        end = inner[-1] if inner and inner[-1] in ".!?" else ""
        return f"QUOTE{len(quotes) - 1}QUOTE{end}"

    return _QUOTE.sub(sub, text), quotes


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])|;\s*", text) if s.strip()]


# ------------------------------------------------------------------------------------------------ openings
_VIS = r"(?:video|visuals?|footage|clip|scene|images?|frames?|picture|screen|visual\s+\w+)"
_AUD = r"(?:audio(?:\s+track)?|sound|soundtrack|speech|recording|acoustics?|acoustic\s+\w+|audio\s+\w+|voice)"
_TXT = r"(?:text|subtitles?|captions?|transcript|dialogue|lines?|script)"
_LABELS = {
    "visual": ("visual", "visuals", "visual cues", "visual cue", "video", "face", "facial expression",
               "facial expressions", "body language", "gestures", "posture", "appearance", "scene", "setting"),
    "audio": ("audio", "audio cues", "audio cue", "auditory", "auditory cues", "voice", "vocal cues", "speech",
              "sound", "sounds", "tone", "acoustic cues", "prosody"),
    "global": ("emotion", "emotions", "emotional state", "emotional cues", "global cues", "global", "mood",
               "conclusion", "inference", "feelings", "state", "overall emotion", "emotional cue"),
    "text": ("subtitle", "subtitles", "text", "transcript", "dialogue"),
}
_LABEL_OF = {label: dim for dim, labels in _LABELS.items() for label in labels}
_OPENINGS = [  # (section, scope, pattern); scope "persist" lasts until the next opening, "sentence" for one sentence
    ("visual", "persist", re.compile(r"^(?:in|from|within|throughout|on)\s+(?:the\s+|this\s+)?" + _VIS
                                     + r"\b[^,:]*?[,:]\s*", re.I)),
    ("audio", "persist", re.compile(r"^(?:in|from|within|throughout|on)\s+(?:the\s+|this\s+)?" + _AUD
                                    + r"\b[^,:]*?[,:]\s*", re.I)),
    ("text", "persist", re.compile(r"^(?:in|from|within|on)\s+(?:the\s+)?" + _TXT + r"\b[^,:]*?[,:]\s*", re.I)),
    ("visual", "persist", re.compile(r"^(?:visually|in\s+terms\s+of\s+(?:the\s+)?(?:visuals?|video|appearance|"
                                     r"body\s+language)\b[^,]*)\s*[,:]\s*", re.I)),
    ("audio", "persist", re.compile(r"^(?:acoustically|audibly|vocally|sonically|in\s+terms\s+of\s+(?:the\s+)?"
                                    r"(?:audio|sound|voice|speech)\b[^,]*)\s*[,:]\s*", re.I)),
    ("global", "sentence", re.compile(r"^emotionally\s*[,:]\s*", re.I)),
    ("visual", "persist", re.compile(r"^the\s+(?:video|footage|clip|visuals?)\s+(?:shows?|reveals?|depicts?|"
                                     r"captures?|presents?)\s+(?:that\s+)?", re.I)),
    ("visual", "sentence", re.compile(r"^the\s+(?:setting|scene|background)\s+(?:has|shows|is|features|contains)"
                                      r"\s+", re.I)),
    ("audio", "persist", re.compile(r"^the\s+(?:audio|soundtrack|recording)(?:\s+track)?\s+(?:has|contains|"
                                    r"includes|features|reveals|shows)\s+", re.I)),
    ("visual", "persist", re.compile(r"^the\s+visual\s+cues?\s+(?:include|includes|are|is)\s*:?\s*", re.I)),
    ("audio", "persist", re.compile(r"^the\s+(?:audio|auditory|acoustic)\s+cues?\s+(?:include|includes|are|is)"
                                    r"\s*:?\s*", re.I)),
    ("global", "sentence", re.compile(r"^the\s+(?:global|emotional)\s+cues?\s+(?:include|includes|are|is)\s*:?\s*",
                                      re.I)),
]
# inference openings: what follows up to the first comma recaps evidence already described
_RECAP_PHRASE = re.compile(r"^(?:based\s+on|combining|considering|given|judging\s+(?:by|from)|in\s+light\s+of|"
                           r"taking\b.*?\binto\s+account|from\s+(?:these|this|all)|putting\b.*?\btogether)\b", re.I)
_RECAP_WORD = re.compile(r"^(?:overall|taken\s+together|together|in\s+summary|in\s+conclusion|to\s+sum\s+up|"
                         r"therefore|thus|hence|so|all\s+in\s+all|consequently|in\s+short|altogether)\b\s*,?\s*",
                         re.I)


def read_opening(sentence: str) -> tuple[str | None, str | None, str]:
    """``(section, scope, rest)``: the section a sentence opening names, its scope and the sentence without it.

    ``scope`` is ``"persist"`` (a modality section), ``"sentence"`` (this sentence only) or ``"recap"`` (an inference
    opening: evidence before the conclusion recaps cues already listed); ``(None, None, sentence)`` otherwise.
    """
    label = re.match(r"^([A-Za-z][A-Za-z ]{1,30}?)\s*:\s+", sentence)
    if label and label.group(1).strip().lower() in _LABEL_OF:
        dim = _LABEL_OF[label.group(1).strip().lower()]
        return dim, ("sentence" if dim == "global" else "persist"), sentence[label.end():]
    for section, scope, pat in _OPENINGS:
        m = pat.match(sentence)
        if m:
            return section, scope, sentence[m.end():]
    if _RECAP_PHRASE.match(sentence):
        return None, "recap", sentence
    m = _RECAP_WORD.match(sentence)
    if m:
        return None, "recap", sentence[m.end():]
    return None, None, sentence


def strip_recap_phrase(sentence: str) -> str:
    """"Based on these clues, she appears nervous" -> "she appears nervous"."""
    if _RECAP_PHRASE.match(sentence) and "," in sentence:
        return sentence.split(",", 1)[1].strip()
    return sentence


# ------------------------------------------------------------------------------------------------ inference
_INFER_ALWAYS = (
    r"(?:,?\s*which\s+)?(?:(?:may|might|could|can|would|further|collectively|together|all|both|clearly|strongly)\s+)*"
    r"(?:suggest(?:s|ing|ed)?|indicat(?:e|es|ing|ed)|impl(?:y|ies|ying|ied)|convey(?:s|ing|ed)?|reflect(?:s|ing|ed)?|"
    r"(?<!mixed\s)signal(?:s|ing|ling|ed|led)?(?!\s*:)|hint(?:s|ing)?\s+at|betray(?:s|ing)?|"
    r"(?:is|are)\s+(?:a\s+)?(?:typical|clear|common)?\s*(?:signs?|indications?|indicators?|expressions?|"
    r"manifestations?|reflections?)\s+of)(?:\s+that)?\b"
)
_INFER_IF_EMOTION = (r"(?:,?\s*which\s+)?(?:(?:may|might|could|further|clearly)\s+)*(?:shows?|showed|showing|"
                     r"express(?:es|ing|ed)?|displays?|reveal(?:s|ing|ed)?|demonstrat(?:e|es|ing|ed)|"
                     r"point(?:s|ing|ed)?\s+to)\b")
_INFER_LEAD = (r"(?:we|one|you)\s+can\s+(?:infer|conclude|tell|see|say|assume)\s+that|it\s+can\s+be\s+"
               r"(?:inferred|concluded|seen|assumed)\s+that|(?:this|which|that)\s+means\s+that|"
               r"(?:we|i)\s+(?:infer|conclude)\s+that")
_NOT = r"(?<!\bnot\s)(?<!n't\s)(?<!never\s)"  # "does not show strong emotion" states no inference
_INFERENCE = re.compile(rf"\b{_NOT}(?:{_INFER_LEAD}|{_INFER_ALWAYS})", re.I)
_INFERENCE_EMO = re.compile(rf"\b{_NOT}{_INFER_IF_EMOTION}", re.I)


def find_inference(sentence: str) -> tuple[int, int] | None:
    """Span of the first inference verb of a sentence, or None.

    "shows", "expresses", "reveals", "points to" count only when an emotion word (or "that") follows closely,
    so "her face shows a wide-eyed stare" stays a description.
    """
    m = _INFERENCE.search(sentence)
    best = (m.start(), m.end()) if m else None
    for e in _INFERENCE_EMO.finditer(sentence):
        if best is not None and e.start() >= best[0]:
            break
        after = tokens(sentence[e.end():])[:4]
        if after and (after[0] == "that" or any(w in STATE_WORDS for w in after)):
            best = (e.start(), e.end())
            break
    return best


# ------------------------------------------------------------------------------------------------ clauses
_PAIRS = ("up and down", "back and forth", "left and right", "on and off", "now and then", "over and over",
          "again and again", "more and more", "here and there", "in and out", "to and fro", "black and white",
          "side to side")
_PAIR_RE = re.compile(r"\b(" + "|".join(p.replace(" ", r"\s+") for p in _PAIRS) + r")\b", re.I)
_BODY = r"(?:face|eyes|eyebrows|brows|mouth|lips|head|hands|arms|shoulders|chin|jaw|legs|knees|feet|fists|fingers)"
_MANNER = r"(?:" + "|".join(sorted(MANNER_NOUNS)) + r")"
_SPLITTERS = [
    re.compile(r"\s*(?:,|:(?=\s)|\s[-–—]\s)\s*"),
    re.compile(r"\s+(?:and|but|while|whereas|then|as\s+if|though|although|yet|as\s+well\s+as)\s+", re.I),
    re.compile(r"\s+as\s+(?=(?:she|he|they|the|his|her|their)\b)", re.I),
    # "face lights up with a radiant smile", "speaks at an even pace in a moderate volume"
    re.compile(r"\s+(?:with|in)\s+(?=(?:(?:a|an)\s+)?(?:[\w\-]+\s+){0,2}" + _MANNER + r"\b)", re.I),
]
_SUBJECT_LEAD = re.compile(r"^(?:(?:the|a|an)\s+)?(?:(?:young|old|elderly|little)\s+)?(?:" + PERSON_NOUNS
                           + r")\b\s*|^(?:she|he|they)\b\s*", re.I)


def _protect_pairs(text: str) -> str:
    return _PAIR_RE.sub(lambda m: "_".join(m.group(1).split()), text)


def restore_pairs(text: str) -> str:
    for p in _PAIRS:
        text = text.replace(p.replace(" ", "_"), p)
    return text


def _split_absolute(fragment: str) -> list[str]:
    # absolute "with": "stands upright with his chin raised", "collapses to her knees with tears streaming down"
    m = re.search(r"\s+with\s+(?=(?:(?:his|her|their|the)\s+)?(?:" + _BODY[3:-1] + r"|tears|sweat)\s+(?:\w+ed|\w+ing|"
                  r"up|down|behind|on|in|open|closed|out|apart)\b)", fragment, re.I)
    if m and len(tokens(_SUBJECT_LEAD.sub("", fragment[:m.start()]))) >= 2:  # the main clause keeps two words
        return [fragment[:m.start()], fragment[m.end():]]
    return [fragment]


def split_clauses(sentence: str) -> list[str]:
    """Clause fragments of a sentence (fixed pairs are kept whole; call :func:`restore_pairs` on each)."""
    frags = [_protect_pairs(sentence)]
    for pat in _SPLITTERS:
        frags = [p for f in frags for p in pat.split(f) if p and p.strip(" ,.;:!?")]
    frags = [p for f in frags for p in _split_absolute(f)]
    return [f.strip(" ,.;:!?") for f in frags if f.strip(" ,.;:!?")]
