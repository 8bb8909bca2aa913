"""The answer format: JSON reference answers built from records, generated answers read back (valid, wrapped, invalid
in every way), the instruction that asks for them, and the checkpoint config that records the format."""

from __future__ import annotations

import json

import pytest

from training.data.answer_format import ParsedAnswer, answer_text, parse_answer

RECORD = {"id": "r1", "emotion": "happy", "description": "She smiles broadly. Overall she is happy.",
          "cues": {"visual": ["a broad smile", "raised eyebrows"], "audio": ["high-pitched voice"],
                   "global": ["warm yellow light"]}, "modality": "multimodal"}


def test_json_answer_round_trip():
    text = answer_text(RECORD, "json")
    assert json.loads(text) == {**RECORD["cues"], "emotion": "happy", "explanation": RECORD["description"]}
    parsed = parse_answer(text, "json")
    assert parsed == ParsedAnswer(explanation=RECORD["description"], cues=RECORD["cues"], emotion="happy")
    assert answer_text(RECORD, "text") == RECORD["description"]
    assert parse_answer(" free text ", "text") == ParsedAnswer(explanation="free text")


def test_json_inside_chatter_or_a_code_fence_is_read():
    text = answer_text(RECORD, "json")
    for wrapped in (f"```json\n{text}\n```", f"Here it is: {text} Hope this helps."):
        parsed = parse_answer(wrapped, "json")
        assert not parsed.invalid_json and parsed.cues == RECORD["cues"]


@pytest.mark.parametrize("text, reason", [
    ('{"visual": ["smile"], "audio": [', "not valid JSON"),
    ("[1, 2]", "expected a JSON object, got list"),
    ('{"visual": [], "audio": [], "emotion": "sad", "explanation": "x"}', "missing key(s): global"),
    ('{"visual": "smile", "audio": [], "global": [], "emotion": "sad", "explanation": "x"}',
     "'visual' must be a list of strings"),
    ('{"visual": [1], "audio": [], "global": [], "emotion": "sad", "explanation": "x"}',
     "'visual' must be a list of strings"),
    ('{"visual": [], "audio": [], "global": [], "emotion": null, "explanation": "x"}', "'emotion' must be a string"),
    ("", "not valid JSON"),
])
def test_invalid_json_keeps_the_raw_text_and_says_why(text, reason):
    parsed = parse_answer(text, "json")
    assert parsed.invalid_json and reason in parsed.json_error
    assert parsed.explanation == text.strip() and parsed.cues is None and parsed.emotion is None


def test_truncation_is_named():
    parsed = parse_answer('{"visual": ["a broad sm', "json", truncated=True)
    assert parsed.invalid_json and "cut off at the generation limit" in parsed.json_error


def test_unknown_format_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown answer format 'xml'"):
        parse_answer("x", "xml")
    with pytest.raises(ValueError, match="unknown answer format 'xml'"):
        answer_text(RECORD, "xml")


def test_instruction_and_config_record_the_format(tmp_path):
    from modeling_xemogpt import XEmoGPTConfig
    from processing_xemogpt import INSTRUCTIONS, JSON_ANSWER_INSTRUCTION, build_messages, instruction_for
    from training.data.sample import sample_from_record

    assert instruction_for("visual", "text") == INSTRUCTIONS["visual"]
    assert instruction_for("audio", "json") == INSTRUCTIONS["audio"] + JSON_ANSWER_INSTRUCTION
    text = build_messages(video="v.mp4", modality="visual", answer_format="json")[0]["content"][-1]["text"]
    assert text.endswith(JSON_ANSWER_INSTRUCTION)
    record = {**RECORD, "video": None, "audio": "a.wav", "modality": "audio", "subtitle": ""}
    sample = sample_from_record(record, answer_format="json")
    assert sample.instruction == INSTRUCTIONS["audio"] + JSON_ANSWER_INSTRUCTION
    assert json.loads(sample.answer)["emotion"] == "happy"
    config = XEmoGPTConfig.from_preset("tiny", answer_format="json")
    config.save_pretrained(tmp_path)
    assert XEmoGPTConfig.from_pretrained(tmp_path).answer_format == "json"
    assert XEmoGPTConfig.from_preset("tiny").answer_format == "text"
    with pytest.raises(ValueError, match="unknown answer format .xml.; choose one of text, json"):
        XEmoGPTConfig.from_preset("tiny", answer_format="xml")
