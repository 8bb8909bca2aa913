"""Word lists of the rules extractor (:mod:`emocue360.rules`): what is seen, what is heard, what is felt.

A cue goes to the dimension whose words it contains (paper §V-A: visual, audio, global). The lists are general
English vocabulary for describing faces, bodies, scenes, voices, sounds and emotional states; inflected forms are
listed where a suffix would be ambiguous ("pace" is heard, "paces" is seen).
"""

from __future__ import annotations

import re

__all__ = ["VISUAL_WORDS", "AUDIO_WORDS", "EMOTION_WORDS", "STATE_WORDS", "HEAD_NOUNS", "MANNER_NOUNS",
           "BODY_NOUNS", "PERSON_NOUNS", "ADJ_WORDS", "ADJ_SUFFIX", "SPEECH_VERBS", "STATE_ING", "tokens", "classify",
           "is_adjective", "is_bare_modifier", "content_words"]

_VISUAL = r"""
face faces facial expression expressions expressionless eye eyes eyed eyebrow eyebrows brow brows forehead mouth mouths
lip lips smile smiles smiled smiling grin grins grinning grinned frown frowns frowned frowning scowl scowls tear tears
tearful teary gaze gazes gazing glance glances glancing glanced stare stares staring stared head heads nod nods nodded
nodding shake shakes shaking shook shrug shrugs shrugged shrugging shoulder shoulders hand hands arm arms finger fingers
fist fists thumb thumbs thumbs-up gesture gestures gesturing gestured posture body lean leans leaning leaned sit sits
sitting sat stand stands standing stood walk walks walking walked cheek cheeks jaw jaws chin nose nostrils blink blinks
blinking blinked squint squints squinting squinted wrinkle wrinkles wrinkled teeth clench clenches clenched purse pursed
pout pouts pouting scene room bedroom kitchen office street streets café cafe park bench corridor hallway classroom
restaurant hospital car window door table desk chair couch sofa bed armrests wall floor ceiling lighting light lit dim
bright dark darkness shadow shadows sunlight streetlight lamp dusk night rain indoor indoors outdoor outdoors setting
environment camera clothes suit jacket shirt dress skirt hat wearing wears dressed skin pale flushed blush blushes
blushing blushed red blue yellow grey gray green golden bluish reddish eyelids lid lids pupils corners corner slumped
slumps slump hunched upright tilt tilts tilted tilting bowed bows lowered downcast covers covering covered cover wipes
wiping wiped hug hugs hugging hugged embrace embraces point points pointing pointed wave waves waving waved leg legs
knee knees foot feet hair nails kick kicks kicking clap claps clapping slam slams slamming pat pats patting rub rubs
rubbing fidget fidgets fidgeting clutch clutches clutching grip grips gripping fold folds folding folded crossed
crosses crossing paces pacing paced jump jumps jumping step steps stepping rock rocks rocking slouch slouches
slouching hide hides hiding peek peeks peeking bite bites biting sweat sweating visible visibly movements
movement motionless still phone document documents plate gift box photograph picture screen letter pen
watch coffee cup glass sleeve stranger audience crowd collapses collapse kneels spark sparkling glistening
glisten stride strides running runs sips sip scrolling pushes push pulls pull raises raised lifts lifted drops dropped
drooping droops narrowed narrows widen widens widened wide-eyed squeezed shut hold holds holding fixed jabbing
"""
_AUDIO = r"""
voice voices vocal vocals tone tones pitch pitched intonation inflection speech speak speaks speaking spoke spoken talk
talks talking said says say sound sounds sounding loud loudly louder loudness soft softly quiet quietly quieter whisper
whispers whispering whispered shout shouts shouting shouted yell yells yelling scream screams screaming screamed laugh
laughs laughing laughed laughter giggle giggles giggling chuckle chuckles chuckling sigh sighs sighing sighed sob sobs
sobbing sniffle sniffles sniffling sniff whimper whimpers whimpering groan groans gasp gasps gasping gasped squeal
squeals shriek shrieks shrieking retching volume pace rate tempo rhythm pause pauses paused pausing stutter stutters
stuttering stammer stammers stammering breath breathing breathes breathy throat accent audio music noise noises fast
quickly slowly slow rapid rapidly hesitant hesitantly hesitation hesitates articulation timbre hoarse monotone
monotonous cracks cracking cracked wavers wavering trembles trembling shaky raspy husky sharp shrill high-pitched
low-pitched rising falling rises emphasis emphasizes emphasises emphasizing stressed syllables utterance utterances
word words muttering mutters mutter murmur murmurs mumble mumbles mumbling scoff scoffs scoffing cheer cheers cheering
bark barks barking footsteps echo echoes echoing ticking ringing silence silent piano song singing sings hums humming
answers answer answered replies reply replied delivery phrases filler aloud audible inaudible projecting clipped
drawn-out wind birds traffic clears
"""
_EMOTION = r"""
happy happiness joy joyful joyous glad delighted delight cheerful cheer pleased pleasant pleasure content contented
satisfied satisfaction sad sadness sorrow sorrowful unhappy depressed depression gloomy grief grieving melancholy
melancholic angry anger furious fury rage enraged annoyed annoyance irritated irritation irritable frustrated
frustration mad hostile hostility fear fearful afraid scared frightened terrified terror anxious anxiety nervous
nervousness worried worry worries uneasy unease tense tension panic panicked surprise surprised astonished amazed
amazement shock shocked startled disgust disgusted contempt contemptuous neutral neutrality calm calmness relaxed
relief relieved excited excitement enthusiastic enthusiasm eager eagerness hope hopeful hopeless hopelessness helpless
helplessness disappointed disappointment discouraged upset distress distressed embarrassed embarrassment shy shyness
ashamed shame guilt guilty proud pride lonely loneliness bored boredom tired tiredness weary weariness exhausted
exhaustion love loving affection affectionate grateful gratitude thankful confused confusion curious curiosity
interest interested determined determination amused amusement sarcastic sarcasm resigned resignation impatient
impatience jealous jealousy envy anticipation willingness emotion emotions emotional mood moods feel feels
feeling feelings felt attitude positive negative agitated agitation despair desperate sympathy empathy concerned
concern dissatisfied dissatisfaction numb numbness detached detachment sulky sullen suspicious suspicion dismissive
defensive resentful resentment flattered touched moved overjoyed thrilled ecstatic elated nostalgic nostalgia longing
yearning reassured betrayed betrayal hurt regret regretful remorse skeptical skepticism sceptical uncomfortable
discomfort restless restlessness stressed stress overwhelmed uncertain uncertainty unsure insecure insecurity
indifferent indifference reluctant reluctance confident confidence self-assured assured composed composure focused
absorbed alert apprehensive apprehension dread timid fearless brave courage defiant defiance vulnerable withdrawn
self-blame humiliated humiliation offended indignant indignation bitter bitterness grumpy moody cheerless
doubtful doubt puzzled perplexed bewildered serene peaceful tranquil content euphoric giddy playful mischievous
sincere warmth tender tenderness compassion compassionate pity sorry apologetic heartbroken devastated miserable
desolate gloom contentment joyless irritable exasperated exasperation outraged outrage livid disgruntled displeased
displeasure conflicted ambivalent distraught frantic hysterical dejected
"""
VISUAL_WORDS = frozenset(_VISUAL.split())
AUDIO_WORDS = frozenset(_AUDIO.split())
EMOTION_WORDS = frozenset(_EMOTION.split())
# words that mark a clause as being about the inner state without naming an emotion ("mixed signals",
# "emotionally detached", "under pressure"); counted with the emotion words, kept out of EMOTION_WORDS (the CLI picks
# the predicted emotion label from that list)
STATE_WORDS = EMOTION_WORDS | frozenset("mixed emotionally pressure blame".split())

# nouns a bare modifier may inherit ("her voice is low, flat" -> "voice flat")
HEAD_NOUNS = ("voice", "tone", "pitch", "speech", "intonation", "breathing", "footsteps", "eyes", "eyebrows", "brows",
              "mouth", "lips", "face", "expression", "gaze", "posture", "head", "hands", "shoulders", "body",
              "lighting", "light", "movements", "delivery", "phrases", "pace", "laughter")
# nouns that name a manner rather than a body part: "with a calm tone", "in a low voice", "with long pauses"
MANNER_NOUNS = frozenset("voice tone tones pitch pace volume pause pauses sigh sighs smile smiles grin frown nod nods "
                         "expression gaze laugh laughter movements movement delivery intonation whisper".split())
BODY_NOUNS = frozenset("face eyes eye eyebrows eyebrow brows brow mouth lips lip head hands hand arms arm shoulders "
                       "shoulder chin jaw cheeks nose legs knees feet foot fists fingers hair teeth body".split())
PERSON_NOUNS = ("woman|man|lady|girl|boy|person|character|speaker|protagonist|subject|individual|actor|actress|guy|"
                "gentleman|female|male|child|kid|people|figure|teenager|teen|soldier|teacher|student|runner|"
                "friend|friends|mother|father|husband|wife|customer|patient|host|guest|player|worker|officer")
ADJ_SUFFIX = ("ly", "ful", "ous", "ive", "al", "ic", "ant", "ent", "ish", "less", "pitched", "ed")
ADJ_WORDS = frozenset("""loud soft fast slow quiet high low flat calm wide open red wet tight tense shaky sharp steady
weak strong firm clear deep harsh warm cold bright dark narrow closed raised lowered furrowed hoarse tearful rapid brisk
heavy light breathy husky raspy shrill louder softer faster slower higher lower quieter deeper even gentle thick
unsteady stern dry moderate normal casual lively choppy polite strained hearty shallow ragged hurried tight-lipped
brief short long wide-eyed neutral upright relaxed distant cheerful monotone shaky happy angry sulky moody gloomy weary
teary sleepy jittery fidgety noisy rosy dreamy shy sly dry grey gray pink""".split())
# words with an adjective-like ending that are nouns here
NOT_ADJ = frozenset("""music panic traffic topic picnic clinic logic moment parent student comment event restaurant
assistant signal animal speed seed need bed family belly jelly detective dish wish fish handful mouthful hospital
crystal metal pedal petal sentence agent client document""".split())
SPEECH_VERBS = frozenset("says said say speaks speaking speak spoke talks talking talk answers answered answer replies "
                         "replied reply adds asks asked continues".split())
# -ing forms that name a state, not an action ("appears to be experiencing a mix of emotions")
STATE_ING = frozenset("feeling experiencing suffering struggling hiding trying".split())

_WORD = re.compile(r"[a-z][a-z'\-]*")
_STOP = frozenset("a an the of and or to with in on at by as is are was were be it this that these those which who "
                  "what there here also very so his her their its he she they him them".split())


def tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def classify(cue: str) -> tuple[int, int, int]:
    """(visual, audio, emotion) word counts of a cue."""
    words = tokens(cue)
    return (sum(w in VISUAL_WORDS for w in words), sum(w in AUDIO_WORDS for w in words),
            sum(w in STATE_WORDS for w in words))


def is_adjective(word: str) -> bool:
    """A listed adjective, or a word of five letters or more with an adjective ending (not a listed noun)."""
    return word in ADJ_WORDS or (len(word) >= 5 and word.endswith(ADJ_SUFFIX) and word not in NOT_ADJ)


def is_bare_modifier(words: list[str]) -> bool:
    """One to three adjectives/adverbs without a head noun ("loud", "slightly sarcastic", "high-pitched")."""
    return (0 < len(words) <= 3 and not any(w in HEAD_NOUNS or w in BODY_NOUNS for w in words)
            and all(is_adjective(w) or w in ("very", "slightly", "somewhat", "a", "bit", "little", "rather", "quite",
                                               "more", "less", "too") for w in words)
            and is_adjective(words[-1]))


def content_words(text: str) -> set[str]:
    """Content words with a crude plural/verb suffix stripped (for recap detection)."""
    out = set()
    for w in tokens(text):
        if w in _STOP or len(w) < 3:
            continue
        for suf in ("ing", "ed", "es", "s"):
            if w.endswith(suf) and len(w) - len(suf) >= 3:
                w = w[: -len(suf)]
                break
        out.add(w)
    return out
