"""Offline, deterministic rule-based extractor (the ``"rules"`` extractor of EmoCue-360).

It turns an English emotional description into atomic cues (paper §V-A, eq. 9: D = {C_v, C_a, C_s}) without a model,
so the metric runs with no network and gives the same numbers everywhere. The pipeline (text structure in
:mod:`emocue360.rules_text`, vocabularies in :mod:`emocue360.rules_lexicon`):

1. Quoted subtitles are protected (an apostrophe inside a word does not end a single-quoted subtitle) and become the
   audio cue ``subtitle text: "..."``, as the paper's LLM extraction writes them (the ``official`` preset drops them).
2. The text is split into sentences. An opening ("In the video,", "Acoustically,", "Audio cues:", "The audio has",
   "In the text,") sets the *section* until the next one; "Emotionally," / "Emotion:" make one sentence global;
   "Based on ...," / "Overall," / "Therefore" mark an inference sentence whose evidence recaps earlier cues.
3. A sentence with an inference verb ("suggests", "indicating that", "we can infer that", "point to", "are typical
   signs of", "shows" + an emotion) is cut there: the words after it become global cues, one per state
   ("suspicious and hostile" -> two); the words before it are kept as cues only when they describe something not
   listed yet ("her trembling voice suggests ..."), dropped when they recap ("these cues", "Based on ...").
4. Other sentences are cut into clauses at commas, colons, "and" / "but" / "while" / "then", "as she ...", before a
   manner phrase ("with a radiant smile", "in a low voice") and an absolute "with" ("stands upright with his chin
   raised"); fixed pairs ("back and forth") stay whole. So conjoined actions become one cue each.
5. A clause whose subject is a person and whose predicate is a state ("he appears numb and emotionally detached",
   "she might be embarrassed") is global, as is one about the emotion itself ("the overall mood appears positive");
   the rest of that sentence stays global unless a new subject with a body or voice word starts a clause.
6. Each other clause loses its subject, copula and filler ("her eyebrows are raised" -> "eyebrows raised"); a bare
   modifier inherits the head noun or verb of the cue before it ("voice is sharp and loud" -> "voice sharp",
   "voice loud"; "speaks softly and slowly" -> "speaks slowly"), and an adjective cut off before a comma joins the
   noun after it ("a low, hoarse voice" -> "low voice", "hoarse voice").
7. The clause goes to visual or audio by its vocabulary (face, body, gesture, scene and lighting words / voice,
   speech, sound words); a tie or a clause without cue words goes to the section, an emotion-only clause to global.

Limits (see the metric card): English only; no parser, so gapping, long nested sentences, coreference across
sentences and cues stated without any cue word are handled approximately. Use an LLM extractor (``"openai"`` /
``"hf"``) for paper fidelity. ``python -m emocue360.fidelity`` measures it against hand-written gold cues.
"""

from __future__ import annotations

import re

from .rules_lexicon import (AUDIO_WORDS, BODY_NOUNS, EMOTION_WORDS, HEAD_NOUNS, PERSON_NOUNS, SPEECH_VERBS,
                            STATE_ING, STATE_WORDS, VISUAL_WORDS, classify, content_words, is_adjective,
                            is_bare_modifier, tokens)
from .rules_text import (QUOTE_TOKEN, find_inference, normalise, protect_quotes, read_opening, restore_pairs,
                         split_clauses, split_sentences, strip_recap_phrase)

__all__ = ["RulesExtractor", "extract_cues_rules", "VISUAL_WORDS", "AUDIO_WORDS", "EMOTION_WORDS"]

_PERSON = f"(?:{PERSON_NOUNS})"
# ------------------------------------------------------------------------------------------------ clause cleaning
_CONNECTOR = re.compile(
    r"^(?:as\s+if|as\s+though|and|but|while|whereas|also|then|meanwhile|additionally|moreover|furthermore|"
    r"however|"
    r"besides|finally|first(?:ly)?|second(?:ly)?|third(?:ly)?|lastly|at\s+the\s+same\s+time|at\s+one\s+point|"
    r"at\s+times|"
    r"sometimes|occasionally|as\s+time\s+goes\s+on|over\s+time|throughout(?:\s+the\s+(?:video|clip|audio))?|"
    r"in\s+addition|as\s+well|accompanied\s+by|along\s+with|together\s+with|with|as|so|thus|therefore|hence|"
    r"overall|taken\s+together|in\s+summary|in\s+conclusion|later|afterwards|initially|eventually|which|who|that|"
    r"though|although|possibly|perhaps|probably|instead|when|once|even|yet|only|around\s+"
    r"(?:the\s+person|him|her|them))\b[\s,]*", re.I)
_FILLER = re.compile(
    r"^(?:we\s+can\s+(?:see|hear|observe|notice)(?:\s+that)?|we\s+(?:see|hear|observe|notice)(?:\s+that)?|"
    r"(?:one|you)\s+can\s+(?:see|hear)(?:\s+that)?|it\s+(?:can\s+be|is)\s+(?:seen|heard|observed|evident|clear|"
    r"obvious|noticeable)\s+that|it\s+(?:seems|appears|looks)\s+(?:that|as\s+if|like)|there\s+(?:is|are|was|were)|"
    r"the\s+(?:video|clip|audio|footage|scene|recording)\s+(?:shows|reveals|captures|depicts|presents)(?:\s+that)?|"
    r"(?:it|this)\s+(?:is|was)\s+(?:evident|clear|obvious)\s+that)\b\s*", re.I)
_SUBJECT = re.compile(
    r"^(?:(?:the|a|an|this|that)\s+)?(?:(?:two|three|both)\s+)?(?:(?:young|old|older|elderly|middle-aged|little|"
    r"female|male)\s+)?" + _PERSON + r"(?:'s|s')?\b(?:\s+in\s+the\s+(?:video|clip|scene|audio))?\s*|"
    r"^(?:she|he|they|it|i|we|you)\b\s*|^(?:her|his|their|its|my|our|your)\b\s*|"
    r"^(?:this|the|that|these)\s+(?:sentence|subtitle|line|utterance|statement|remark|words?)\b\s*", re.I)
_SAYS = re.compile(r"^(?:the\s+)?(?:subtitles?|text|line|caption|transcript|character|person|speaker|she|he|they|"
                   r"what\s+(?:she|he|they))?\s*(?:says|said|reads|states|goes|is|adds|replies|answers)$", re.I)
_INNER_POSSESSIVE = re.compile(
    r"\b(?:(?:the|a|an)\s+)?(?:(?:young|old|elderly|middle-aged)\s+)?" + _PERSON + r"(?:'s|s')\s+|"
    r"\b(?:his|their|its)\b\s*|\bher\b\s*(?=[a-z])", re.I)
_COPULA_LEAD = re.compile(
    r"^(?:(?:may|might|could|can|must|would|seems?\s+to|appears?\s+to|tends?\s+to)\s+)?(?:be|is|are|was|were|am|"
    r"been|being)\b\s*|^(?:appears?|appeared|seems?|seemed|looks?|looked|becomes?|became|feels?|felt|"
    r"remains?|remained|shows?|displays?|exhibits?|has|have)(?:\s+(?:to\s+be|like|as\s+if))?\b(?!\s+(?:down|up|"
    r"away|at|around|toward|towards|into|over|back|aside|off|out|on))\s*|^(?:may|might|could|probably|likely|"
    r"possibly)\b\s*", re.I)
_COPULA_INNER = re.compile(r"\b(?:is|are|was|were|am|been|being)\b\s*|"
                           r"\b(?:appears?|appeared|seems?|seemed)\s+(?:to\s+be\s+)?", re.I)
_LINK_AFTER_HEAD = re.compile(r"\b(" + "|".join(sorted(set(HEAD_NOUNS) | BODY_NOUNS)) + r")\s+(?:sounds?|looks?|"
                              r"becomes?|became|feels?)\s+(?!(?:like|down|up|away|at|around|toward|towards|into|"
                              r"over|back|aside|off|out|on|downward|upward|forward|left|right)\b)", re.I)
_ADVERB_FILLER = re.compile(r"\b(?:also|clearly|obviously|evidently|apparently|visibly|noticeably|really|finally|"
                            r"further|collectively|somewhere)\b\s*", re.I)
_LEAD_ARTICLE = re.compile(r"^(?:an?(?!\s+(?:little|bit|few)\b)|the|some|in\s+an?|in\s+the|of|that|to)\b\s+", re.I)
_TRAIL = re.compile(r"(?:\s+(?:in|throughout|during)\s+the\s+(?:video|clip|audio|footage|scene|recording)"
                    r"|\s+at\s+times|\s+as\s+well|\s+can\s+be\s+(?:seen|heard|noticed|observed)"
                    r"|(?<!barely)(?<!hardly)(?<!faintly)(?<!scarcely)\s+(?:(?:is|are)\s+)?(?:audible|noticeable)"
                    r"|\s+stands?\s+out)+$", re.I)
_META_LEAD = re.compile(r"^it\s+is\s+(?:difficult|hard|not\s+easy|impossible)\s+to\s+(?:determine|tell|say|know)"
                        r"[^,]*,\s*(?:but\s+)?", re.I)
_SENTENCE_HINT = re.compile(r"\s+in\s+the\s+(audio|video)\s*[.!?]?$", re.I)
_RECAP_EVIDENCE = re.compile(r"^(?:these|this|that|those|all|both|such|the\s+above|together|which|it|what|"
                             r"the\s+(?:cues?|clues?|signs?|observations?|behaviou?rs?|evidence|details?|"
                             r"(?:global|visual|audio|emotional)\s+cues?|combination))\b", re.I)
_META = frozenset("""what says said say words word subtitle subtitles line lines text cues cue clues clue signs sign
these this that all both together collectively observations observation behaviours behaviors behaviour behavior
evidence everything above overall it in his her their the of combination details information factors further reaction
perspective visual audio global emotional modality modalities video clip and a an its reinforce reinforces""".split())
_DIRECTIONS = frozenset("down up away at around toward towards into over back aside off out on downward upward "
                        "forward left right through".split())
_PREPOSITIONS = frozenset("in on at by with behind under over near beside inside outside from into".split())
# ------------------------------------------------------------------------------------------------ states
_STATE = re.compile(
    r"^(?:(?:the|a|an|this|that)\s+)?(?:(?:young|old|older|elderly|little|middle-aged)\s+)?" + _PERSON
    + r"(?:\s+in\s+the\s+(?:video|clip|scene|audio))?\s+|^(?:she|he|they|i|we)\s+", re.I)
_STATE_VERB = re.compile(
    r"^(?:(?:may|might|could|must|would|seems?\s+to|appears?\s+to|tends?\s+to)\s+)?(?:clearly\s+|also\s+)?"
    r"(?P<verb>be|is|are|was|were|feels?|felt|seems?|seemed|appears?|appeared|looks?|looked|becomes?|became|"
    r"remains?|remained|sounds?|gets?|got|grows?)\b\s*(?:to\s+be\s+|like\s+)?", re.I)
_EMOTION_SUBJECT = re.compile(
    r"^(?:(?:the|his|her|their|its|this)\s+)?(?:[\w\-]+(?:'s|s')\s+)?(?:overall\s+|general\s+)?(?:emotional\s+state|"
    r"emotional\s+tone|emotions?|mood|feelings?|attitude|state\s+of\s+mind|atmosphere|demeanou?r)\s+(?:is|are|was|"
    r"were|seems?|appears?|remains?|looks?)\s+(?:to\s+be\s+)?", re.I)
_GLOBAL_SPLIT = re.compile(r"\s*,\s*|\s+(?:and|or|mixed\s+with|combined\s+with|along\s+with|as\s+well\s+as|but|"
                           r"though|although|yet|as\s+if|while|rather\s+than)\s+", re.I)
_GLOBAL_LEAD = re.compile(r"^(?:(?:most\s+)?likely|probably|possibly|perhaps|maybe|(?:a\s+)?(?:sense|feeling|state)"
                          r"\s+of|feeling|experiencing|(?:the\s+)?(?:face|voice|eyes|tone|expression|words)"
                          r"(?=\s+\w))\b\s*", re.I)
_SPOKEN_SUBJECT = re.compile(r"^(?:the|his|her|their)\s+(?:subtitles?|words?|line|remark|sentence|utterance|reply|"
                             r"answer|question)\b", re.I)
_OWN_SUBJECT = re.compile(r"^(?:she|he|they|his|her|their|its|the|a|an)\b", re.I)


def _clean(clause: str) -> str:
    """Strip connectors, filler, the subject, copulas and possessive pronouns from one clause (atomic cue form)."""
    s = restore_pairs(clause).strip().strip(" ,;:-–—")
    for _ in range(5):  # connectors / filler / subject can stack: "and then we can see that the woman ..."
        before = s
        s = _CONNECTOR.sub("", s).strip(" ,")
        s = _FILLER.sub("", s).strip(" ,")
        s = _SUBJECT.sub("", s).strip(" ,")
        s = _COPULA_LEAD.sub("", s).strip(" ,")
        if s == before:
            break
    s = _INNER_POSSESSIVE.sub("", s)
    s = _COPULA_INNER.sub("", s)
    s = _LINK_AFTER_HEAD.sub(r"\1 ", s)
    s = _ADVERB_FILLER.sub("", s)
    for _ in range(2):
        s = _LEAD_ARTICLE.sub("", s.strip())
    s = _TRAIL.sub("", s.strip())
    s = re.sub(r"\s+", " ", s).strip(" ,.;:!?-–—")
    return s.lower()


def _is_content(cue: str) -> bool:
    words = tokens(cue)
    return bool(words) and not all(w in _META for w in words)


def _state_predicate(clause: str) -> str | None:
    """The predicate of "<person> <is/appears/seems/feels> <state>", or None when the clause is not one."""
    s = _CONNECTOR.sub("", clause.strip()).strip(" ,")
    s = _FILLER.sub("", s).strip(" ,")
    m = _EMOTION_SUBJECT.match(s)
    if m:
        return s[m.end():]
    m = _STATE.match(s)
    if not m:
        return None
    v = _STATE_VERB.match(s[m.end():])
    if not v:
        return None
    pred = s[m.end() + v.end():]
    words = [w for w in tokens(pred) if w not in ("clearly", "visibly", "obviously", "really", "also")]
    if not words:
        return None
    w0 = words[1] if words[0] in ("not", "no", "never") and len(words) > 1 else words[0]
    if v.group("verb").lower().startswith("look") and w0 in _DIRECTIONS:
        return None
    if w0.endswith("ing") and w0 not in STATE_ING and w0 not in STATE_WORDS:
        return None
    if any(w in STATE_WORDS for w in words):
        return pred
    if w0 in _PREPOSITIONS or any(w in VISUAL_WORDS or w in AUDIO_WORDS for w in words):
        return None
    return pred


def _global_items(phrase: str) -> list[str]:
    """One global cue per state: "that he is suspicious and hostile" -> ["suspicious", "hostile"]."""
    items = []
    for part in _GLOBAL_SPLIT.split(restore_pairs(phrase)):
        span = find_inference(part)  # "the face suggests happiness" -> "happiness"
        c = _clean(part[span[1]:] if span else part)
        for _ in range(2):
            c = _clean(_GLOBAL_LEAD.sub("", c))
        if _is_content(c) and not all(w in BODY_NOUNS or w in HEAD_NOUNS for w in tokens(c)):
            items.append(c)
    return items


def _first_modality(words: list[str]) -> str:
    """Tie-break outside a video/audio section: the first cue word ("shout at someone off camera" -> audio)."""
    for w in words:
        if w in VISUAL_WORDS:
            return "visual"
        if w in AUDIO_WORDS:
            return "audio"
    return "visual"


def _dimension(cue: str, section: str | None) -> str:
    v, a, e = classify(cue)
    if v != a:
        return "visual" if v > a else "audio"
    if v:
        return section if section in ("visual", "audio") else _first_modality(tokens(cue))
    if e or section in ("text", "global"):
        return "global"
    return section if section in ("visual", "audio") else "visual"


def _dangling(raw: str) -> tuple[str, str] | None:
    """("speaks slowly", "low") from "speaks slowly in a low" -- an adjective cut off from its noun by a comma."""
    m = re.match(r"^(?P<pre>.*?)\s*\b(?:(?:in|with|at|of)\s+)?(?:a|an|the)\s+(?P<adj>[\w\-]+)$", raw.strip(), re.I)
    if m and is_adjective(m.group("adj").lower()):
        return m.group("pre"), m.group("adj").lower()
    return None


def _noun_phrase_head(cue: str) -> str | None:
    """"hoarse voice" -> "voice": an adjective-led phrase ("breaking voice" too) whose last word is a noun."""
    words = tokens(cue)
    if 2 <= len(words) <= 3 and (is_adjective(words[0]) or words[0].endswith("ing")) \
            and not is_adjective(words[-1]) and not words[-1].endswith("ing") \
            and not any(w in ("of", "in", "on", "at", "to", "with", "across", "by") for w in words):
        return words[-1]
    return None


class _Cues:
    """The growing cue lists of one description, with the context later clauses inherit."""

    def __init__(self):
        self.out: dict[str, list[str]] = {"visual": [], "audio": [], "global": []}
        self.head: str | None = None      # head noun of the last visual/audio cue ("voice")
        self.verb: str | None = None      # its first word when it starts with a verb ("speaks")
        self.dim: str | None = None

    def add(self, dim: str, cue: str) -> None:
        if dim == "global":
            for item in _global_items(cue):
                if item not in self.out["global"]:
                    self.out["global"].append(item)
            return
        if _is_content(cue) and cue not in self.out[dim]:
            self.out[dim].append(cue)
        words = tokens(cue)
        heads = [w for w in words if w in HEAD_NOUNS or w in BODY_NOUNS]
        self.head, self.dim = (heads[0] if heads else None), dim
        self.verb = words[0] if words and words[0] not in HEAD_NOUNS and not is_adjective(words[0]) else None

    def subtitle(self, quote: str) -> None:
        cue = f'subtitle text: "{quote}"'
        if cue not in self.out["audio"]:
            self.out["audio"].append(cue)

    def known(self, cue: str) -> bool:
        """True when a cue restates earlier cues (recap evidence before an inference verb) or is a bare noun."""
        words = content_words(cue)
        toks = tokens(cue)
        if not words or all(w in _META or w in HEAD_NOUNS or w in BODY_NOUNS for w in toks):
            return True
        if len(toks) == 1 and toks[0] not in VISUAL_WORDS and toks[0] not in AUDIO_WORDS:
            return True  # a bare noun such as "the atmosphere" names no cue
        seen = set().union(*(content_words(c) for d in ("visual", "audio") for c in self.out[d])) \
            if self.out["visual"] or self.out["audio"] else set()
        return len(words & seen) >= 0.5 * len(words)

    def clauses(self, fragments: list[str], section: str | None, only_new: bool = False) -> None:
        """Turn clause fragments into cues (steps 5-7 of the module docstring)."""
        global_mode, pending, last_noun = False, None, None
        cleaned = [_clean(f) for f in fragments]
        for i, raw in enumerate(fragments):
            rel = re.match(r"^(?:which|that|who)\s+(?:is|are|was|were)\s+", raw, re.I)
            if rel and last_noun:
                raw = f"{last_noun} {raw[rel.end():]}"
                cleaned[i] = _clean(raw)
            if _SAYS.match(raw.strip()) or not _is_content(cleaned[i]):
                continue
            pred = _state_predicate(raw)
            if pred is not None:
                self.add("global", pred)
                global_mode = True
                continue
            cue = cleaned[i]
            words = tokens(cue)
            if global_mode:
                v, a, _ = classify(cue)
                if not (_OWN_SUBJECT.match(_CONNECTOR.sub("", raw.strip())) and (v or a)):
                    self.add("global", cue)
                    continue
                global_mode = False
            # "a low, | hoarse voice": the next fragment starts with its adjective and ends with the noun
            nxt = _noun_phrase_head(cleaned[i + 1]) if i + 1 < len(fragments) and not re.match(
                r"^(?:with|in|at|of|and|but|to)\b", fragments[i + 1].strip(), re.I) else None
            dangling = _dangling(raw) if nxt else None
            if nxt and (dangling or (is_bare_modifier(words) and not words[-1].endswith("ly"))):
                pre = _clean(dangling[0]) if dangling else ""
                if _is_content(pre) and not set(tokens(pre)) <= SPEECH_VERBS:  # "answers in a firm," -> no cue
                    self._emit(pre, section, only_new)
                pending = dangling[1] if dangling else cue
                continue
            if pending:
                head = _noun_phrase_head(cue)
                if head:
                    self._emit(f"{pending} {head}", section, only_new)
                pending = None
            if (self.head or self.verb) and is_bare_modifier(words) and self.dim:
                if (words[-1].endswith("ly") and self.verb) or not self.head:
                    cue = f"{self.verb} {cue}"
                else:
                    cue = f"{self.head} {cue}"
                self._emit(cue, section, only_new, dim=self.dim)
                continue
            if set(words) <= SPEECH_VERBS | {"it", "to", "him", "her", "them", "me"}:
                continue  # "she says," before a subtitle
            self._emit(cue, section, only_new)
            last_noun = words[-1] if words and not is_adjective(words[-1]) else last_noun

    def _emit(self, cue: str, section: str | None, only_new: bool, dim: str | None = None) -> None:
        if not _is_content(cue) or (only_new and self.known(cue)):
            return
        self.add(dim or _dimension(cue, section), cue)


class RulesExtractor:
    """Deterministic rule-based extractor; ``extract(texts) -> list[{"visual", "audio", "global"}]``.

    See the module docstring for the rules and their limits. ``name = "rules"``; it is cheap, so it is not cached.
    """

    name = "rules"
    model = "rules-v2"

    def __call__(self, text: str) -> dict:
        return extract_cues_rules(text)

    def extract(self, texts, progress: bool = False) -> list[dict]:
        return [extract_cues_rules(t) for t in texts]


def extract_cues_rules(text: str) -> dict:
    """Extract ``{"visual": [...], "audio": [...], "global": [...]}`` atomic cues from one description."""
    if not isinstance(text, str):
        raise TypeError(f"rules extractor expects a string, got {type(text).__name__}")
    cues = _Cues()
    text, quotes = protect_quotes(normalise(text))
    section = None
    for sentence in split_sentences(text):
        opened, scope, s = read_opening(sentence)
        if scope == "persist":
            section = opened
        here = opened if scope in ("persist", "sentence") else section
        label = re.match(r"^(\w+)\s*:", sentence)  # "Voice: polite but strained" -> "voice polite", ...
        cues.head, cues.verb, cues.dim = (label.group(1).lower(), None, here) \
            if label and label.group(1).lower() in HEAD_NOUNS and here in ("visual", "audio") else (None, None, None)
        if QUOTE_TOKEN.search(s) and _SPOKEN_SUBJECT.match(s):
            here = "text"  # "The subtitle "..." is matter-of-fact": what is said, and what it means
        for q in QUOTE_TOKEN.finditer(s):
            cues.subtitle(quotes[int(q.group(1))])
        s = _META_LEAD.sub("", QUOTE_TOKEN.sub("", s)).strip()
        hint = _SENTENCE_HINT.search(s)
        if hint:  # "There is tense music and a ticking clock in the audio."
            here = "audio" if hint.group(1).lower() == "audio" else "visual"
            s = s[:hint.start()]
        if here == "global":
            cues.add("global", s)
            continue
        span = find_inference(s)
        if span:
            evidence, conclusion = s[:span[0]], s[span[1]:]
            cues.add("global", conclusion)
            if scope != "recap" and evidence.strip() and not _RECAP_EVIDENCE.match(evidence.strip()):
                cues.clauses(split_clauses(evidence), here, only_new=True)
            continue
        if scope == "recap":
            s = strip_recap_phrase(s)
        cues.clauses(split_clauses(s), here)
    return cues.out
