"""`xemogpt push CHECKPOINT REPO_ID`: a real tiny checkpoint checked, loaded and carded, then uploaded through a mocked
``HfApi`` (the calls, in order, and the files of the one commit); every refusal and failure is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from unittest import mock

import httpx
import pytest
from huggingface_hub import HfApi, ModelCard
from huggingface_hub.errors import HfHubHTTPError

from hub_cards import write_model_card
from xemogpt_cli.main import main

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """The untrained tiny preset saved with its processor (remote code, safetensors), as the demo's base."""
    from xemogpt_cli.recipe_runs import save_base

    return save_base(tmp_path_factory.mktemp("base") / "untrained", 0)


@pytest.fixture
def ckpt(tiny_checkpoint, tmp_path) -> Path:
    folder = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "modeling_xemogpt.cpython-312.pyc").write_bytes(b"x")
    (folder / "checkpoint-10").mkdir()
    (folder / "checkpoint-10" / "optimizer.pt").write_bytes(b"x")  # trainer state is never uploaded
    return folder


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_TOKEN_PATH", str(tmp_path / "no-token"))


def _api(existing: bool = False):
    """A mocked ``HfApi`` that records each call in order and, for ``create_commit``, every file's bytes."""
    api = mock.create_autospec(HfApi, instance=True)
    api.repo_exists.return_value = existing
    sent = {}

    def create_commit(repo_id, operations, **kw):
        sent["paths"] = [op.path_in_repo for op in operations]
        sent["contents"] = {op.path_in_repo: Path(op.path_or_fileobj).read_bytes() for op in operations}
        return mock.Mock(commit_url=f"https://huggingface.co/{repo_id}/commit/abc123")

    api.create_commit.side_effect = create_commit
    return api, sent


def _push(argv, api):
    with mock.patch("huggingface_hub.HfApi", return_value=api) as cls:
        rc = main(["push", *argv])
    return rc, cls


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("xemogpt push: error: ")
    return err


def _expected_files(folder: Path) -> list[str]:
    skip = ("__pycache__", "checkpoint-10", "DONE.json")
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() and not p.relative_to(folder).as_posix().startswith(skip))


def test_push_writes_the_card_and_uploads_one_commit(ckpt, token, capsys):
    api, sent = _api()
    rc, cls = _push([str(ckpt), "me/xemogpt-tiny", "--private", "--revision", "v1"], api)
    assert rc == 0
    cls.assert_called_once_with(token="hf_test_token")
    assert [c[0] for c in api.mock_calls] == ["repo_exists", "create_repo", "create_branch", "create_commit"]
    api.create_repo.assert_called_once_with("me/xemogpt-tiny", repo_type="model", private=True, exist_ok=True)
    api.create_branch.assert_called_once_with("me/xemogpt-tiny", branch="v1", repo_type="model", exist_ok=True)
    kwargs = api.create_commit.call_args.kwargs
    assert kwargs["revision"] == "v1" and kwargs["repo_type"] == "model"
    # every file of the folder but caches, trainer state and the demo's marker, README.md included, sorted
    assert "README.md" in sent["paths"] and "model.safetensors" in sent["paths"]
    assert sent["paths"] == _expected_files(ckpt)
    assert not any(p.endswith((".pyc", ".pt")) or p == "DONE.json" for p in sent["paths"])
    readme = sent["contents"]["README.md"].decode()
    assert readme == (ckpt / "README.md").read_text()
    card = ModelCard(readme)  # the Hub's parser reads what was sent
    assert card.data.library_name == "transformers" and card.data.license == "apache-2.0"  # tiny: random weights
    assert card.data.eval_results is None and "**tiny** demonstration checkpoint" in card.text
    assert 'AutoModel.from_pretrained("me/xemogpt-tiny", trust_remote_code=True)' in card.text
    out = capsys.readouterr().out
    assert f"pushed {len(sent['paths'])} files to https://huggingface.co/me/xemogpt-tiny (branch v1) (new repo, " \
           "private) in one commit: https://huggingface.co/me/xemogpt-tiny/commit/abc123" in out


def test_push_refreshes_an_existing_card(ckpt, token, capsys):
    """A card written when the checkpoint was saved keeps its figures; its usage snippet and licence are updated."""
    write_model_card(ckpt, model_name="XEmoGPT-tiny test", base_models={"text": "Qwen/Qwen3-4B"},
                     training_data=[{"name": "training set", "records": 3, "source": "train.jsonl"}],
                     results={"dataset": "EmoCue-Eval", "metrics": {"mean": 0.25}}, intended_use="Tests.",
                     limitations="None known.", license="unknown")
    assert f'AutoModel.from_pretrained("{ckpt}"' in (ckpt / "README.md").read_text()
    api, sent = _api(existing=True)
    rc, _ = _push([str(ckpt), "me/x", "--license", "cc-by-nc-4.0"], api)
    assert rc == 0
    assert [c[0] for c in api.mock_calls] == ["repo_exists", "create_repo", "create_commit"]  # no branch: main
    assert api.create_commit.call_args.kwargs["revision"] is None
    card = ModelCard(sent["contents"]["README.md"].decode())
    assert card.data.license == "cc-by-nc-4.0" and card.data.base_model == ["Qwen/Qwen3-4B"]
    assert [(r.metric_type, r.metric_value) for r in card.data.eval_results] == [("mean", 0.25)]
    assert 'AutoModel.from_pretrained("me/x", trust_remote_code=True)' in card.text and str(ckpt) not in card.text
    assert "`cc-by-nc-4.0` (Hub licence id)" in card.text and "has not been set" not in card.text
    assert "| training set | 3 | train.jsonl |" in card.text
    assert "(new repo" not in capsys.readouterr().out


def test_dry_run_needs_no_token_and_sends_nothing(ckpt, no_token, capsys):
    api, _ = _api()
    rc, cls = _push([str(ckpt), "me/x", "--dry-run"], api)
    assert rc == 0 and not cls.called and not api.mock_calls
    out = capsys.readouterr().out
    assert "dry run: would upload to https://huggingface.co/me/x in one commit: " + ", ".join(_expected_files(ckpt)) \
        in out
    assert (ckpt / "README.md").is_file()


def test_missing_token(ckpt, no_token, capsys):
    api, _ = _api()
    rc, cls = _push([str(ckpt), "me/x"], api)
    assert rc == 1 and not cls.called
    assert "no Hugging Face token: log in with `hf auth login` or set HF_TOKEN" in _one_line_error(capsys)


@pytest.mark.parametrize("repo_id, message", [
    ("no-owner", "repo id must look like 'owner/name', got 'no-owner'"),
    ("me/a/b", "repo id must look like 'owner/name'"),
    ("me/bad--name", "bad repo id 'me/bad--name': Cannot have -- or .."),
    ("me/has space", "bad repo id 'me/has space'"),
])
def test_bad_repo_id(ckpt, token, capsys, repo_id, message):
    api, _ = _api()
    rc, _ = _push([str(ckpt), repo_id], api)
    assert rc == 1 and not api.mock_calls
    assert message in _one_line_error(capsys)
    assert not (ckpt / "README.md").exists()  # refused before anything was written


@pytest.mark.parametrize("name", ["pytorch_model.bin", "weights.pt", "extra/model.ckpt", "vecb.pth", "state.pkl"])
def test_pickle_files_are_refused(ckpt, token, capsys, name):
    (ckpt / name).parent.mkdir(exist_ok=True)
    (ckpt / name).write_bytes(b"\x80\x04K\x01.")  # pickle of 1
    api, _ = _api()
    rc, _ = _push([str(ckpt), "me/x"], api)
    assert rc == 1 and not api.mock_calls
    err = _one_line_error(capsys)
    assert f"{ckpt}: refusing to publish pickle files ({name})" in err


def test_missing_remote_code(ckpt, token, capsys):
    api, _ = _api()
    (ckpt / "modeling_vecb.py").unlink()  # imported by modeling_xemogpt.py
    (ckpt / "processing_xemogpt.py").unlink()  # named by the processor's auto_map
    rc, _ = _push([str(ckpt), "me/x"], api)
    assert rc == 1 and not api.mock_calls
    err = _one_line_error(capsys)
    assert f"{ckpt}: remote code files missing:" in err
    assert "modeling_vecb.py" in err and "processing_xemogpt.py (named by processor_config.json)" in err
    config = json.loads((ckpt / "config.json").read_text())
    del config["auto_map"]
    (ckpt / "config.json").write_text(json.dumps(config))
    for f in ("processor_config.json", "tokenizer_config.json"):
        (ckpt / f).unlink()
    assert _push([str(ckpt), "me/x"], api)[0] == 1
    assert "config.json has no auto_map: not a remote-code checkpoint" in _one_line_error(capsys)


def test_folder_that_does_not_load_or_has_no_weights(ckpt, token, capsys):
    api, _ = _api()
    (ckpt / "model.safetensors").write_bytes(b"not safetensors")
    assert _push([str(ckpt), "me/x"], api)[0] == 1
    assert f"{ckpt}: does not load with AutoModel.from_pretrained(..., trust_remote_code=True)" in \
        _one_line_error(capsys)
    (ckpt / "model.safetensors").unlink()
    assert _push([str(ckpt), "me/x"], api)[0] == 1
    assert "no safetensors weights" in _one_line_error(capsys)
    assert _push([str(ckpt / "nope"), "me/x"], api)[0] == 1
    assert "checkpoint folder not found" in _one_line_error(capsys)
    assert not api.mock_calls


def test_readme_that_is_not_a_card_is_not_overwritten(ckpt, token, capsys):
    (ckpt / "README.md").write_text("# my notes\n")
    api, _ = _api()
    assert _push([str(ckpt), "me/x"], api)[0] == 1
    assert "README.md: not a model card (no YAML metadata block)" in _one_line_error(capsys)
    assert (ckpt / "README.md").read_text() == "# my notes\n" and not api.mock_calls


def _http_error(status: int, text: str) -> HfHubHTTPError:
    request = httpx.Request("POST", "https://huggingface.co/api/models/me/x/commit/main")
    return HfHubHTTPError(text, response=httpx.Response(status, request=request))


def test_failed_upload_says_what_happened(ckpt, token, capsys):
    api, _ = _api(existing=False)
    api.create_commit.side_effect = _http_error(500, "500 Server Error: Internal Server Error")
    assert _push([str(ckpt), "me/x"], api)[0] == 1
    err = _one_line_error(capsys)
    n = len(_expected_files(ckpt))
    assert f"upload of {n} files to https://huggingface.co/me/x failed: HfHubHTTPError: 500 Server Error" in err
    assert "no commit was made, the repo's files are as before" in err
    assert "the repo was created by this push and is empty" in err
    assert api.create_commit.call_count == 1  # one commit: nothing half-uploaded
    # an existing repo: the same failure, without the note about a new empty repo
    api, _ = _api(existing=True)
    api.create_commit.side_effect = OSError("connection reset")
    assert _push([str(ckpt), "me/x", "--revision", "dev"], api)[0] == 1
    err = _one_line_error(capsys)
    assert "to https://huggingface.co/me/x@dev failed: OSError: connection reset" in err and "empty" not in err


def test_rejected_token_and_no_write_access(ckpt, token, capsys):
    api, _ = _api()
    api.repo_exists.side_effect = _http_error(401, "401 Unauthorized")
    assert _push([str(ckpt), "me/x"], api)[0] == 1
    err = _one_line_error(capsys)
    assert "could not create or reach https://huggingface.co/me/x: the Hub rejected the token (401" in err
    assert err.endswith("nothing was uploaded")
    api, _ = _api()
    api.create_repo.side_effect = _http_error(403, "403 Forbidden: you cannot create a repo in 'me'")
    assert _push([str(ckpt), "me/x"], api)[0] == 1
    assert "the token may not write there (403 Forbidden)" in _one_line_error(capsys)
    assert not api.create_commit.called
