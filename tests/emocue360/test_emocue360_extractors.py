"""Cue extractors: the offline rules, the prompts, JSON repair, the OpenAI-compatible client against a local fake
server (good JSON, malformed JSON, 429, timeout, unreachable), and the on-disk cache (resume after an interruption)."""

import json
import os
import re
import socket
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

from emocue360.cache import JSONCache, make_key
from emocue360.extractors import ExtractionError, LLMExtractor, get_extractor, normalize_cues
from llm_client.llm_backends import BackendError, JSONReplyError, OpenAIChatBackend, parse_json_reply
from emocue360.prompts import ONE_SHOT_OUTPUT, TEMPLATES, build_messages
from emocue360.rules import extract_cues_rules
from emocue360.testing import FakeChatServer

SYNTHETIC = (
    "In the video, the woman's mouth curves up into a smile and her eyebrows are raised; she nods her head. "
    "In the audio, her voice is high-pitched and the intonation rises at the end, speaking loudly and quickly. "
    "Taken together, these cues suggest she is happy."
)
EMER_STYLE = (
    "In the video, we see a lady using a phone in an indoor environment. Her facial expression appears joyful, with "
    "the corners of her mouth turned up, indicating that she may be hearing some good news. In the audio, the "
    "character's voice is loud, with a calm tone and a hint of laughter, indicating that the character is in a "
    "pleasant mood. In the text, the subtitle says, \"Then let's meet, okay? Well, goodbye.\" Based on the lady's "
    "joyful facial expression and the pleasant tone in the audio, we can infer that she feels happy and expectant."
)
SAD = (
    "In the video, the man's brows are furrowed and his eyes look downward; his shoulders slump. In the audio, his "
    "voice is low, flat, and slow, and he sighs heavily. Overall, he appears disappointed and frustrated."
)
NO_SECTIONS = "The girl frowns and her lips tremble. Her voice trembles as she speaks. She seems scared."


# ---------------------------------------------------------------------------------------------- rules
def test_rules_on_synthetic_description():
    cues = extract_cues_rules(SYNTHETIC)
    assert cues["visual"] == ["mouth curves up into a smile", "eyebrows raised", "nods head"]
    # conjoined adverbs share their verb: one cue per property (loudness, pace)
    assert cues["audio"] == ["voice high-pitched", "intonation rises at the end", "speaking loudly", "speaking quickly"]
    assert cues["global"] == ["happy"]


def test_rules_on_emer_style_description():
    cues = extract_cues_rules(EMER_STYLE)
    assert "facial expression joyful" in cues["visual"]
    assert "corners of mouth turned up" in cues["visual"]
    assert {"voice loud", "calm tone", "hint of laughter"} <= set(cues["audio"])
    assert 'subtitle text: "Then let\'s meet, okay? Well, goodbye."' in cues["audio"]  # the subtitle as written
    assert {"pleasant mood", "happy", "expectant"} <= set(cues["global"])
    # the "Based on ..." recap does not repeat visual/audio cues in any dimension
    assert not any("based on" in c for d in cues.values() for c in d)
    assert sum("facial expression" in c for c in cues["visual"]) == 1


def test_rules_inherit_head_noun_and_split_emotions():
    cues = extract_cues_rules(SAD)
    assert cues["visual"] == ["brows furrowed", "eyes look downward", "shoulders slump"]
    assert cues["audio"] == ["voice low", "voice flat", "voice slow", "sighs heavily"]
    assert cues["global"] == ["disappointed", "frustrated"]


def test_rules_without_section_markers_use_vocabulary():
    cues = extract_cues_rules(NO_SECTIONS)
    assert cues["visual"] == ["frowns", "lips tremble"]
    assert cues["audio"] and cues["audio"][0].startswith("voice trembles")
    assert cues["global"] == ["scared"]


def _gold_texts():
    from emocue360.fidelity import load_gold

    return [r["text"] for r in load_gold()]


@pytest.mark.parametrize("text", [SYNTHETIC, EMER_STYLE, SAD, NO_SECTIONS] + _gold_texts())
def test_rules_cues_are_atomic_phrases(text):
    cues = extract_cues_rules(text)
    subject = re.compile(r"^(she|he|they|her|his|their|the|a(?! little| bit| few)|an|this|these|in the|we)\b")
    for dim, items in cues.items():
        for c in items:
            if c.startswith("subtitle text:"):
                continue
            assert not subject.match(c), (dim, c)
            assert not re.search(r"\b(is|are|was|were)\b", c), (dim, c)
            assert c == c.strip() and not c.endswith((".", ",")), (dim, c)
            assert len(c.split()) <= 12, (dim, c)
    assert extract_cues_rules(text) == cues  # deterministic


def test_rules_type_error():
    with pytest.raises(TypeError, match="expects a string"):
        extract_cues_rules(None)


# the failures a new user met (issue: "EmoCue-360's offline extractor, measured")
@pytest.mark.parametrize("text, expected", [
    ("In the video, the woman frowns. In the text, the subtitle says, 'Don't ever do that again.' These clues "
     "indicate anger.",
     {"visual": ["frowns"], "audio": ['subtitle text: "Don\'t ever do that again."'], "global": ["anger"]}),
    ("In the text, the subtitle reads \"Fine, whatever you say.\" This suggests she is annoyed and contemptuous.",
     {"visual": [], "audio": ['subtitle text: "Fine, whatever you say."'], "global": ["annoyed", "contemptuous"]}),
    ("In the audio, his voice is flat and quiet. He appears numb and emotionally detached.",
     {"visual": [], "audio": ["voice flat", "voice quiet"], "global": ["numb", "emotionally detached"]}),
    ("She rolls her eyes and turns her head away. He frowns deeply and shakes his head slowly. He laughs loudly and "
     "throws his head back.",
     {"visual": ["rolls eyes", "turns head away", "frowns deeply", "shakes head slowly", "throws head back"],
      "audio": ["laughs loudly"], "global": []}),
    ("Visual: wide smile, bright eyes. Audio: lively tone, quick speech rate. Emotional state: happy and energetic.",
     {"visual": ["wide smile", "bright eyes"], "audio": ["lively tone", "quick speech rate"],
      "global": ["happy", "energetic"]}),
    ("He sits in a chair with his arms crossed. Her voice sounds soft and somewhat shaky, which might indicate "
     "nervousness. The man does not show strong emotion.",
     {"visual": ["sits in a chair", "arms crossed"], "audio": ["voice soft", "voice somewhat shaky"],
      "global": ["nervousness", "does not show strong emotion"]}),
])
def test_rules_on_reported_failures(text, expected):
    assert extract_cues_rules(text) == expected


def test_rules_on_the_demo_models_phrasing():
    """Descriptions in the synthetic generator's phrasing (what the demo's tiny model learns to write): every face
    cue and scene cue lands in visual, every voice cue in audio, and no global cue names a face, voice or scene."""
    import numpy as np

    from training.data import synthetic as S

    rng = np.random.default_rng(0)
    for i in range(90):
        modality = ("multimodal", "visual", "audio")[i % 3]
        d = S.describe(S.sample_factors(rng), modality, rng)
        cues = extract_cues_rules(d["description"])
        scene = [d["cues"]["global"][0]] if "scene" in S.factors_for_modality(modality) else []
        for dim, items in (("visual", d["cues"]["visual"] + scene), ("audio", d["cues"]["audio"])):
            got = set(re.findall(r"[a-z\-]+", " ".join(cues[dim])))
            for cue in items:  # adjectives may be distributed: "flat, closed mouth" -> "flat mouth", "closed mouth"
                assert set(re.findall(r"[a-z\-]+", cue)) - {"a"} <= got, (dim, cue, d["description"], cues)
        for g in cues["global"]:
            assert not re.search(r"smile|frown|brows|voice|pitch|light|background|head", g), (g, d["description"])


def test_normalize_cues_one_alias_table_for_the_project():
    # "text" (what the words mean) is a global cue; "face" / "voice" name their modality
    out = normalize_cues({"face": ["frown"], "voice": "low", "text": ["words express regret"], "reasoning": "sad"})
    assert out == {"visual": ["frown"], "audio": ["low"], "global": ["words express regret", "sad"]}
    assert normalize_cues({"text": ["x"]}, strict=True)["global"] == ["x"]
    # the lenient reading EmoCue-Instruct uses: ';'-separated strings, repeats dropped, numbers kept as text
    out = normalize_cues({"visual": "frown; - tight lips\n", "audio": ["Loud", "loud", 3, {"cue": "sigh"}]},
                         split_strings=True, dedupe=True)
    assert out == {"visual": ["frown", "tight lips"], "audio": ["Loud", "3", "sigh"], "global": []}
    # the metric's reading keeps duplicates (they weigh in the mean, as in the authors' scorer)
    assert normalize_cues({"audio": ["loud", "loud", 3]})["audio"] == ["loud", "loud"]


def test_normalize_cues_aliases_and_strictness():
    out = normalize_cues({"Visual": ["smile", " "], "auditory": "loud voice", "emotional": ["happy", 3]})
    assert out == {"visual": ["smile"], "audio": ["loud voice"], "global": ["happy"]}
    with pytest.raises(ValueError, match="unknown cue dimension 'smell'"):
        normalize_cues({"smell": ["x"]}, strict=True)
    with pytest.raises(TypeError, match="list of strings"):
        normalize_cues({"visual": 3}, strict=True)


# ---------------------------------------------------------------------------------------------- prompts / JSON
def test_five_templates_with_one_shot_example():
    assert sorted(TEMPLATES) == [1, 2, 3, 4, 5]
    assert len({TEMPLATES[i] for i in TEMPLATES}) == 5
    for t in TEMPLATES:
        msgs = build_messages("some description", t)
        assert [m["role"] for m in msgs] == ["system", "user"] and msgs[1]["content"] == "some description"
        system = msgs[0]["content"]
        assert TEMPLATES[t] in system and "EXAMPLE INPUT" in system
        assert all(k in system for k in ('"visual"', '"auditory"', '"emotional"'))
        assert json.dumps(ONE_SHOT_OUTPUT["visual"][0]) in system
    with pytest.raises(ValueError, match="unknown prompt template 6"):
        build_messages("x", 6)


@pytest.mark.parametrize("reply", [
    '{"visual": ["smile"]}',
    'Sure! Here it is:\n```json\n{"visual": ["smile"],}\n```',
    'The cues are {"visual": ["smile"]} as requested.',
    '{"visual": ["smile"',
])
def test_parse_json_reply_repairs(reply):
    assert parse_json_reply(reply)["visual"] == ["smile"]


def test_parse_json_reply_gives_up_with_one_line():
    with pytest.raises(JSONReplyError, match="not a JSON object") as e:
        parse_json_reply("I cannot help with that.\nSorry.")
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------------------------------------- OpenAI client
GOOD = {"visual": ["smile"], "auditory": ["loud voice", "Subtitle text: 'hi'"], "emotional": ["happy"]}


def backend(srv, **kw):
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 5)
    return OpenAIChatBackend(model="fake-chat", base_url=srv.base_url, api_key="sk-test", **kw)


def test_openai_good_json_and_request_shape(tmp_path):
    with FakeChatServer(script=[{"json": GOOD}]) as srv:
        ext = LLMExtractor(backend(srv), template=3, cache_dir=tmp_path)
        cues = ext.extract([SYNTHETIC], progress=False)
        body = srv.requests[0]
    assert cues == [{"visual": ["smile"], "audio": ["loud voice", "Subtitle text: 'hi'"], "global": ["happy"]}]
    assert body["model"] == "fake-chat" and body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["content"].startswith(TEMPLATES[3]) and body["messages"][1]["content"] == SYNTHETIC


def test_openai_malformed_json_then_good():
    with FakeChatServer(script=[{"content": "Here are the cues: visual - smile"}, {"json": GOOD}]) as srv:
        b = backend(srv)
        assert b.chat_json(build_messages("x"))["visual"] == ["smile"]
        assert len(srv.requests) == 2
        # the retry tells the model what was wrong
        assert srv.requests[1]["messages"][-1]["role"] == "user"
        assert "not a valid JSON" in srv.requests[1]["messages"][-1]["content"]
    with FakeChatServer(script=[{"content": "no json"}] * 3) as srv:
        with pytest.raises(JSONReplyError, match="after 2 tries"):
            backend(srv, json_retries=1).chat_json(build_messages("x"))


def test_openai_429_then_success_honours_retry_after():
    with FakeChatServer(script=[{"status": 429, "headers": {"Retry-After": "0.2"}}, {"status": 503},
                                {"json": GOOD}]) as srv:
        b = backend(srv)
        t0 = time.perf_counter()
        assert b.chat_json(build_messages("x"))["emotional"] == ["happy"]
        assert time.perf_counter() - t0 >= 0.2
        assert len(srv.requests) == 3 and b.stats["retries"] == 2


def test_openai_timeout_then_success():
    with FakeChatServer(script=[{"sleep": 1.5, "json": GOOD}, {"json": GOOD}]) as srv:
        b = backend(srv, timeout=0.3)
        t0 = time.perf_counter()
        assert b.chat_json(build_messages("x"))["visual"] == ["smile"]
        assert time.perf_counter() - t0 < 1.4


def test_openai_persistent_timeout_is_one_clear_error():
    with FakeChatServer(script=[{"sleep": 1.0}] * 3) as srv:
        with pytest.raises(BackendError, match=r"unreachable after 2 attempts \(last: timed out after 0.2 s\)"):
            backend(srv, timeout=0.2, max_retries=1).chat_json(build_messages("x"))


def test_openai_non_retryable_status_fails_fast():
    with FakeChatServer(script=[{"status": 401, "body": '{"error": "bad key"}'}]) as srv:
        with pytest.raises(BackendError, match="HTTP 401"):
            backend(srv).chat_json(build_messages("x"))
        assert len(srv.requests) == 1


def _closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_unreachable_endpoint_keeps_what_was_cached_and_resumes(tmp_path):
    texts = [SYNTHETIC, SAD, NO_SECTIONS]

    def answer(body):
        return {"visual": [body["messages"][1]["content"][:12]], "auditory": [], "emotional": ["x"]}

    # run 1: the endpoint serves two texts, then keeps failing (an interrupted run)
    with FakeChatServer(script=[{"handler": True}, {"handler": True}] + [{"status": 503}] * 10,
                        handler=answer) as srv:
        ext = LLMExtractor(backend(srv, max_retries=2), cache_dir=tmp_path, max_workers=1)
        with pytest.raises(ExtractionError, match=r"failed on 1 of 3 texts \(2 extractions cached in") as e:
            ext.extract(texts, progress=False)
        assert "\n" not in str(e.value) and "unreachable after 3 attempts" in str(e.value)
    assert len(JSONCache(tmp_path)) == 2
    # a crash mid-write leaves a partial last line: it is ignored on reload
    with open(tmp_path / JSONCache.FILENAME, "a", encoding="utf-8") as f:
        f.write('{"key": "abc", "val')
    # run 2: only the missing text is sent
    with FakeChatServer(handler=answer) as srv:
        ext2 = LLMExtractor(backend(srv), cache_dir=tmp_path)
        cues = ext2.extract(texts, progress=False)
        assert len(srv.requests) == 1 and srv.requests[0]["messages"][1]["content"] == texts[2]
    assert [c["visual"][0] for c in cues] == [t[:12] for t in texts]
    reloaded = JSONCache(tmp_path)
    assert len(reloaded) == 3 and reloaded.skipped_lines == 1
    # the endpoint is now gone entirely: everything comes from the cache, nothing is sent
    dead = OpenAIChatBackend(model="fake-chat", base_url=f"http://127.0.0.1:{_closed_port()}/v1", max_retries=0)
    assert LLMExtractor(dead, cache_dir=tmp_path).extract(texts, progress=False) == cues
    # ... and a text it never saw fails with one clear line
    with pytest.raises(ExtractionError, match=r"unreachable after 1 attempts \(last: ConnectError"):
        LLMExtractor(dead, cache_dir=tmp_path).extract(["new text"], progress=False)


def test_cache_key_covers_text_extractor_model_and_template(tmp_path):
    k = make_key(text="t", extractor="openai", model="m", template=1)
    assert k == make_key(template=1, model="m", extractor="openai", text="t")
    assert len({k, make_key(text="t2", extractor="openai", model="m", template=1),
                make_key(text="t", extractor="hf", model="m", template=1),
                make_key(text="t", extractor="openai", model="m2", template=1),
                make_key(text="t", extractor="openai", model="m", template=2)}) == 5
    with FakeChatServer(handler=lambda b: GOOD) as srv:
        for template in (1, 2, 1):
            LLMExtractor(backend(srv), template=template, cache_dir=tmp_path).extract(["t"], progress=False)
        assert len(srv.requests) == 2


def test_concurrency_is_bounded(tmp_path):
    import threading

    state = {"now": 0, "peak": 0}
    lock = threading.Lock()

    def slow(body):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return GOOD

    with FakeChatServer(handler=slow) as srv:
        ext = LLMExtractor(backend(srv), cache_dir=False, max_workers=3)
        out = ext.extract([f"text {i}" for i in range(12)], progress=False)
    assert len(out) == 12 and 1 < state["peak"] <= 3


def test_get_extractor_errors():
    assert get_extractor("rules").name == "rules"
    with pytest.raises(ValueError, match=r"unknown extractor 'gpt'; choose one of \['rules', 'openai', 'hf'\]"):
        get_extractor("gpt")
    with pytest.raises(ValueError, match="hf extractor needs `model`"):
        get_extractor("hf")
    with pytest.raises(ValueError, match="unknown prompt template 9"):
        get_extractor("openai", template=9, base_url="http://127.0.0.1:9/v1", cache_dir=False)


def test_hf_backend_with_a_tiny_local_chat_model(tmp_path):
    """The local transformers backend: chat template -> greedy generate -> JSON (or a clear error)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    from llm_client.llm_backends import TransformersChatBackend

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(["visual auditory emotional smile {} [] \" : ,"] * 5,
                            trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}assistant: "
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=16, eos_token_id=0, pad_token_id=0)
    b = TransformersChatBackend(Qwen3ForCausalLM(cfg), tokenizer=fast, device="cpu", max_new_tokens=8,
                                json_retries=0)
    text = b.chat_text(build_messages("she smiles"))
    assert isinstance(text, str)
    with pytest.raises(JSONReplyError, match="hf model"):
        b.chat_json([{"role": "user", "content": "x"}])  # a random model does not write JSON
    # the same plumbing with a model that "answers" JSON: replies are parsed and normalised into cues
    b._generate = lambda convos: ['{"visual": ["smile"], "auditory": [], "emotional": ["happy"]}'] * len(convos)
    ext = LLMExtractor(b, cache_dir=tmp_path)
    assert ext.extract(["a", "b"], progress=False)[1] == {"visual": ["smile"], "audio": [], "global": ["happy"]}
    # loaded by path, as `extractor="hf", model=DIR` does: a model that cannot write JSON fails with one line
    b.lm.save_pretrained(tmp_path / "chat")
    fast.save_pretrained(tmp_path / "chat")
    hf = get_extractor("hf", model=str(tmp_path / "chat"), device="cpu", max_new_tokens=4, json_retries=0,
                       cache_dir=tmp_path / "cache")
    assert hf.name == "hf" and hf.model == str(tmp_path / "chat")
    with pytest.raises(ExtractionError, match=r"hf extractor failed on 1 of 1 texts .*hf model") as e:
        hf.extract(["she smiles"], progress=False)
    assert "\n" not in str(e.value)
    with pytest.raises(BackendError, match="cannot load chat model"):
        get_extractor("hf", model=str(tmp_path / "missing"), device="cpu")


@pytest.mark.parametrize("text, expected", [
    ("The person looks angry: their brows are lowered and their lips are pressed together. They shout at someone "
     "off camera.",
     {"visual": ["brows lowered", "lips pressed together"], "audio": ["shout at someone off camera"],
      "global": ["angry"]}),
    ("In the video, the woman is crying. In the audio, she sobs and her voice cracks. Based on the tears and the "
     "breaking voice, we can infer that she is grieving and feels helpless.",
     {"visual": ["crying"], "audio": ["sobs", "voice cracks"], "global": ["grieving", "helpless"]}),
    ("In the video, a young man has a faint smile. In the audio, he speaks at an even pace in a soft, steady tone. "
     "Based on these cues, he is likely relaxed.",
     {"visual": ["faint smile"], "audio": ["speaks at an even pace", "soft tone", "steady tone"],
      "global": ["relaxed"]}),
])
def test_rules_colon_recap_and_split_noun_phrase(text, expected):
    assert extract_cues_rules(text) == expected
