"""Card rendering and metadata validation; pushes against a mocked HfApi; local dataset round trips."""

from __future__ import annotations

import json
import re
from pathlib import Path
from unittest import mock

import pytest
from huggingface_hub import DatasetCard, HfApi, ModelCard

from hub_cards import (
    build_dataset_card,
    build_model_card,
    flatten_eval_results,
    refresh_model_card,
    validate_card,
    write_model_card,
)
from hub_cards import push
from training.data.builders import records_to_dataset
from training.data.schema import EMOCUE_FEATURES

ROOT = Path(__file__).resolve().parents[2]
EVAL = {"visual": {"precision": 0.61, "recall": 0.5, "f1": 0.55}, "audio": {"precision": 0.4, "recall": 0.3,
        "f1": float("nan")}, "mean": 0.45, "bleu_4": 0.12, "note": "text is dropped"}


def _records(tmp_path, n=5):
    clip = tmp_path / "media" / "c0.mp4"
    clip.parent.mkdir(parents=True, exist_ok=True)
    clip.write_bytes(b"fake mp4")
    wav = tmp_path / "media" / "c0.wav"
    wav.write_bytes(b"RIFF")
    out = []
    for i in range(n):
        mod = ["multimodal", "visual", "audio"][i % 3]
        out.append({"id": f"c{i}", "video": None if mod == "audio" else str(clip),
                    "audio": str(wav) if mod == "audio" else None, "subtitle": "好的, \"ok\"",
                    "emotion": "happy", "cues": {"visual": ["smile"] if mod != "audio" else [],
                                                 "audio": ["high pitch"] if mod != "visual" else [], "global": []},
                    "description": f"desc {i}", "short_caption": "smile, happy", "modality": mod})
    return out


def _mock_api():
    api = mock.create_autospec(HfApi, instance=True)
    sent = {}

    def upload_folder(**kw):
        sent["kwargs"] = kw
        sent["files"] = push.list_files(kw["folder_path"], kw.get("ignore_patterns") or ())
        sent["contents"] = {f: (Path(kw["folder_path"]) / f).read_bytes() for f in sent["files"]}
        return "commit-info"

    api.upload_folder.side_effect = upload_folder
    return api, sent


def test_model_card_renders_and_validates(tmp_path):
    # the fields of XEmoGPTConfig.to_dict() the card reads (importing the config class costs seconds here)
    cfg = {"backbones": {"vision": "openai/clip-vit-large-patch14", "audio": "TencentGameMate/chinese-hubert-large",
                         "text": "Qwen/Qwen3-4B", "aecb_text_encoder": "sentence-transformers/LaBSE"},
           "bridge_num_layers": 2, "num_frames": 16, "lora_r": 512, "lora_alpha": 512,
           "lora_target_modules": ["q_proj", "k_proj", "v_proj"], "text_config": {"hidden_size": 2560}}
    card = build_model_card(cfg, repo_id="me/xemogpt", eval_results=EVAL,
                            training=[{"stage": 1, "trained": "VECB", "datasets": ["MAFW", "DFEW"], "steps": 10,
                                       "final_loss": 2.5}], figures=[("figures/loss.png", "training loss")])
    meta = validate_card(card, repo_type="model")
    assert meta["pipeline_tag"] == "video-text-to-text" and meta["library_name"] == "transformers"
    assert meta["base_model"] == ["openai/clip-vit-large-patch14", "TencentGameMate/chinese-hubert-large",
                                  "Qwen/Qwen3-4B"] and "custom_code" in meta["tags"]
    metrics = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metrics == {"audio_precision": 0.4, "audio_recall": 0.3, "bleu_4": 0.12, "mean": 0.45,
                       "visual_f1": 0.55, "visual_precision": 0.61, "visual_recall": 0.5}
    text = str(card)
    assert "| 1 | VECB | MAFW, DFEW | 10 | 2.5 |" in text and "![training loss](figures/loss.png)" in text
    assert 'AutoModel.from_pretrained("me/xemogpt", trust_remote_code=True)' in text
    assert ModelCard(text).data.to_dict() == card.data.to_dict()
    # config read from a checkpoint folder, no results
    (tmp_path / "config.json").write_text(json.dumps({"backbones": None, "lora_r": 8, "lora_alpha": 16,
                                                      "text_config": {"hidden_size": 128}}))
    tiny = build_model_card(tmp_path, repo_id="me/tiny")
    assert "tiny** demonstration checkpoint" in str(tiny) and "model-index" not in validate_card(tiny)
    assert flatten_eval_results({"a": {"b": 1, "c": True}}) == {"a_b": 1.0}


def test_card_validation_catches_bad_metadata():
    card = ModelCard("---\nlicense: not-a-licence\npipeline_tag: dance\ntags: [1, 2]\n---\n# x\n")
    with pytest.raises(ValueError) as err:
        validate_card(card)
    msg = str(err.value)
    assert "not-a-licence" in msg and "pipeline_tag 'dance'" in msg and "tags must be" in msg
    with pytest.raises(ValueError, match="license 'other' needs license_name"):
        validate_card(DatasetCard("---\nlicense: other\n---\n# x\n"), repo_type="dataset")


def test_dataset_card(tmp_path):
    quality = {"num_samples": 300, "num_sheets": 3,
               "dimensions": {"visual": {"mean": 3.81234, "std": 0.9, "n": 300}}}
    q = tmp_path / "fig10_summary.json"
    q.write_text(json.dumps(quality))
    card = build_dataset_card(repo_id="me/emocue", records=_records(tmp_path, 7), quality=q,
                              sources=["MER-Caption+ (EmoCue-Instruct)"])
    meta = validate_card(card, repo_type="dataset")
    assert meta["size_categories"] == ["n<1K"] and meta["license"] == "other"
    assert meta["configs"][0]["data_files"][0] == {"split": "train", "path": "data/train-*.parquet"}
    text = str(card)
    assert "7 records (train: 7)" in text and "| visual | 3.812 | 0.9 | 300 |" in text
    assert "multimodal 3, visual 2, audio 2" in text and "- MER-Caption+ (EmoCue-Instruct)" in text


def test_push_model_sends_exact_files(tmp_path):
    from safetensors.numpy import save_file
    import numpy as np

    ckpt = tmp_path / "ckpt"
    (ckpt / "__pycache__").mkdir(parents=True)
    (ckpt / "checkpoint-10").mkdir()
    (ckpt / "config.json").write_text("{}")
    save_file({"w": np.zeros(2, np.float32)}, str(ckpt / "model.safetensors"))
    for f in ("processor_config.json", "tokenizer.json", "modeling_xemogpt.py", "__pycache__/x.pyc",
              "checkpoint-10/optimizer.pt", ".DS_Store", "training_args.bin"):
        (ckpt / f).write_text("x")
    api, sent = _mock_api()
    with pytest.raises(ValueError, match="owner/name"):
        push.push_model(ckpt, "no-owner", api=api)
    card = build_model_card(None, repo_id="me/xemogpt-tiny", preset="tiny")
    assert push.push_model(ckpt, "me/xemogpt-tiny", api=api, card=card, private=True) == "commit-info"
    api.create_repo.assert_called_once_with("me/xemogpt-tiny", repo_type="model", exist_ok=True, private=True)
    assert sent["kwargs"]["repo_id"] == "me/xemogpt-tiny" and sent["kwargs"]["repo_type"] == "model"
    assert sent["files"] == ["README.md", "config.json", "model.safetensors", "modeling_xemogpt.py",
                             "processor_config.json", "tokenizer.json"]
    assert sent["contents"]["README.md"].decode().startswith("---\n")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        push.push_model(tmp_path, "me/x", api=api)


def test_push_dataset_files_and_local_roundtrip(tmp_path):
    import datasets

    records = _records(tmp_path)
    ds = records_to_dataset(records)
    assert ds.features == EMOCUE_FEATURES
    ds.save_to_disk(str(tmp_path / "saved"))
    back = datasets.load_from_disk(str(tmp_path / "saved"))
    assert back.to_list() == records
    card = build_dataset_card(repo_id="me/emocue", dataset=back)
    api, sent = _mock_api()
    push.push_dataset(tmp_path / "saved", "me/emocue", api=api, card=card)
    api.create_repo.assert_called_once_with("me/emocue", repo_type="dataset", exist_ok=True, private=None)
    assert sent["kwargs"]["repo_type"] == "dataset" and sent["kwargs"]["repo_id"] == "me/emocue"
    assert sent["files"] == ["README.md", "data/train-00000-of-00001.parquet"]
    # what was sent loads back as the same records (the Hub's parquet layout, read locally)
    pq = tmp_path / "sent.parquet"
    pq.write_bytes(sent["contents"]["data/train-00000-of-00001.parquet"])
    assert datasets.Dataset.from_parquet(str(pq)).to_list() == records
    # DatasetDict with two splits, media copied and paths made repo-relative
    dd = datasets.DatasetDict({"train": ds.select(range(3)), "test": ds.select(range(3, 5))})
    files = push.stage_dataset(dd, tmp_path / "stage", include_media=True)
    assert files == ["data/test-00000-of-00001.parquet", "data/train-00000-of-00001.parquet", "media/c0.mp4",
                     "media/c0.wav"]
    loaded = datasets.load_dataset("parquet", data_files={"train": str(tmp_path / "stage/data/train-*.parquet")},
                                   split="train")
    assert loaded[0]["video"] == "media/c0.mp4" and loaded[2]["audio"] == "media/c0.wav"
    assert loaded[2]["video"] is None and loaded[0]["cues"] == records[0]["cues"]


def test_push_metric_space(tmp_path):
    metric = tmp_path / "emocue360"
    (metric / "__pycache__").mkdir(parents=True)
    (metric / "emocue360.py").write_text("# metric\n")
    (metric / "scoring.py").write_text("# scoring\n")
    (metric / "__pycache__" / "a.pyc").write_bytes(b"x")
    (metric / "README.md").write_text("---\ntitle: EmoCue-360\ntags:\n- evaluate\n- metric\n---\n\n# EmoCue-360\n"
                                      "metric card text\n")
    api, sent = _mock_api()
    push.push_metric_space("me/emocue360", metric, api=api)
    api.create_repo.assert_called_once_with("me/emocue360", repo_type="space", space_sdk="gradio", exist_ok=True,
                                            private=None)
    assert sent["kwargs"]["repo_type"] == "space"
    assert sent["files"] == ["README.md", "app.py", "emocue360.py", "requirements.txt", "scoring.py"]
    readme = sent["contents"]["README.md"].decode()
    assert "sdk: gradio" in readme and "app_file: app.py" in readme and "metric card text" in readme
    assert b"launch_gradio_widget" in sent["contents"]["app.py"]
    with pytest.raises(FileNotFoundError, match="no emocue360.py"):
        push.push_metric_space("me/x", tmp_path, api=api)


def test_stage_real_metric_folder(tmp_path):
    if not (ROOT / "emocue360" / "emocue360.py").is_file():
        pytest.skip("emocue360 metric not present")
    files = push.stage_metric_space(ROOT / "emocue360", tmp_path / "space")
    assert "app.py" in files and "emocue360.py" in files and not any("__pycache__" in f for f in files)


# ------------------------------------------------------------------------------------------------------------------
# write_model_card: the README.md every checkpoint writer of the package calls
# ------------------------------------------------------------------------------------------------------------------
def _config_folder(tmp_path, **cfg) -> Path:
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"bridge_num_layers": 2, "num_frames": 16, **cfg}))
    return folder


def test_write_model_card_as_the_converter_calls_it(tmp_path):
    """No results, a source line, paper backbones: the card parses, names its base models (Hub ids only in the
    metadata) and carries no model-index."""
    folder = _config_folder(tmp_path, answer_format="text")
    path = write_model_card(
        folder, model_name="XEmoGPT (authors' release)",
        base_models={"vision": "openai/clip-vit-large-patch14", "audio": "TencentGameMate/chinese-hubert-large",
                     "text": "Qwen/Qwen3-4B", "vecb": str(tmp_path)},
        training_data=None, recipe={"LoRA alpha": 512, "LoRA": "merged"}, results=None,
        intended_use="Reproducing the paper's numbers.", limitations="As released by the authors.",
        license="other", license_name="xemogpt-release", license_link="https://example.org/LICENSE",
        source="converted from the authors' released xemogpt.ckpt (sha256 0123abcd)",
        extra_sections={"Conversion": "Every tensor of the release was mapped; see `conversion.json`."})
    assert path == folder / "README.md"
    card = ModelCard.load(path)
    assert card.data.eval_results is None and "model-index" not in card.data.to_dict()
    assert card.data.base_model == ["openai/clip-vit-large-patch14", "TencentGameMate/chinese-hubert-large",
                                    "Qwen/Qwen3-4B"]  # the local bridge folder is shown in the text only
    assert card.data.license == "other" and card.data.license_name == "xemogpt-release"
    text = card.text
    assert "**Source:** converted from the authors' released xemogpt.ckpt (sha256 0123abcd)" in text
    assert f"| VECB initialised from | `{tmp_path}` |" in text and "| LoRA alpha | 512 |" in text
    assert "The training data of this checkpoint are not recorded here." in text
    assert "No held-out evaluation results were recorded" in text
    assert "## Conversion\n\nEvery tensor of the release was mapped" in text
    assert "## Intended use\n\nReproducing the paper's numbers." in text
    assert "`xemogpt-release` (https://example.org/LICENSE)" in text
    assert f'AutoModel.from_pretrained("{folder}", trust_remote_code=True)' in text
    validate_card(card)


def test_write_model_card_results_are_the_model_index(tmp_path):
    """Results (nested EmoCue-360 output and cue naming, two data sets) come back from huggingface_hub's parser with
    the values as given; counts of training records and sources are in the text."""
    folder = _config_folder(tmp_path)
    emocue = {"visual": {"precision": 0.123456789012, "recall": 0.5}, "mean": 0.3, "global_f1": None,
              "per_factor": {"mouth": 0.75}, "note": "dropped"}
    path = write_model_card(
        folder, model_name="m", base_models={"text": "Qwen/Qwen3-4B"},
        training_data=[{"stage": "3", "name": "training set", "records": 1000,
                        "modalities": {"multimodal": 600, "visual": 200, "audio": 200}, "source": "MER-Caption+"}],
        results=[{"dataset": "EmoCue-Eval", "dataset_type": "emocue-eval", "split": "test", "metrics": emocue},
                 {"dataset": "synthetic held-out", "metrics": {"cue_accuracy": 0.9}}],
        intended_use="x", limitations="y", license="apache-2.0", repo_id="me/m")
    card = ModelCard(path.read_text())
    got = [(r.dataset_name, r.dataset_type, r.dataset_split, r.metric_type, r.metric_value)
           for r in card.data.eval_results]
    assert got == [("EmoCue-Eval", "emocue-eval", "test", "visual_precision", 0.123456789012),
                   ("EmoCue-Eval", "emocue-eval", "test", "visual_recall", 0.5),
                   ("EmoCue-Eval", "emocue-eval", "test", "mean", 0.3),
                   ("EmoCue-Eval", "emocue-eval", "test", "per_factor_mouth", 0.75),
                   ("synthetic held-out", "synthetic held-out", None, "cue_accuracy", 0.9)]
    assert card.data.eval_results[0].metric_name == "EmoCue-360 visual precision"
    assert "| 3 | training set | 1000 | multimodal 600, visual 200, audio 200 | MER-Caption+ |" in card.text
    assert "### EmoCue-Eval (test split)" in card.text and "| actual cues named (`cue_accuracy`) | 0.9 |" in card.text
    assert 'AutoModel.from_pretrained("me/m", trust_remote_code=True)' in card.text


@pytest.mark.parametrize("kwargs, message", [
    ({"license": "apache"}, "license 'apache' is not a Hub licence id"),
    ({"license": "other"}, "license 'other' needs license_name"),
    ({"results": {"metrics": {"mean": 0.1}}}, "results[0] must be a dict with 'dataset'"),
    ({"results": {"dataset": "d", "metrics": {"mean": None}}}, "results[0] (d): no numeric metric"),
])
def test_write_model_card_refuses_bad_input(tmp_path, kwargs, message):
    folder = _config_folder(tmp_path)
    args = {"model_name": "m", "base_models": {}, "intended_use": "x", "limitations": "y", "license": "mit",
            **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        write_model_card(folder, **args)
    assert not (folder / "README.md").exists()
    with pytest.raises(FileNotFoundError, match="checkpoint folder not found"):
        write_model_card(tmp_path / "missing", **{**args, "license": "mit", "results": None})


def test_refresh_model_card(tmp_path):
    """Without a card one is written from config.json; with one, the usage snippet and licence blocks change and the
    rest stays; a README.md without metadata is refused."""
    paper = _config_folder(tmp_path, backbones={"vision": "openai/clip-vit-large-patch14", "text": "Qwen/Qwen3-4B"},
                           text_config={"hidden_size": 2560})
    card = ModelCard.load(refresh_model_card(paper, repo_id="me/paper"))
    assert card.data.license == "unknown" and card.data.base_model == ["openai/clip-vit-large-patch14",
                                                                      "Qwen/Qwen3-4B"]
    assert "has not been set (`unknown`)" in card.text and 'from_pretrained("me/paper"' in card.text
    before = (paper / "README.md").read_text()
    refresh_model_card(paper, repo_id="you/other", license="mit")
    after = (paper / "README.md").read_text()
    assert 'from_pretrained("you/other"' in after and "me/paper" not in after
    assert "`mit` (Hub licence id)" in after and "has not been set" not in after
    assert ModelCard(after).data.license == "mit"
    strip = lambda t: t.split("<!-- xemogpt:usage -->")[0].split("---", 2)[2]  # noqa: E731
    assert strip(after) == strip(before)  # the body above the usage block is untouched
    with pytest.raises(ValueError, match="license 'x' is not a Hub licence id"):
        refresh_model_card(paper, repo_id="me/paper", license="x")
    (paper / "README.md").write_text("notes\n")
    with pytest.raises(ValueError, match="not a model card"):
        refresh_model_card(paper, repo_id="me/paper")
