"""Hugging Face Hub cards and push helpers for XEmoGPT checkpoints, EmoCue datasets and the EmoCue-360 Space.

Cards are rendered with ``huggingface_hub``'s ``ModelCard`` / ``DatasetCard`` from the Jinja templates in
``templates/``; their YAML metadata is built with ``ModelCardData`` / ``DatasetCardData``.

* :mod:`hub_cards.model_card` -- a checkpoint's card: :func:`~hub_cards.model_card.write_model_card` writes the
  ``README.md`` of every checkpoint the project saves, ``render_model_card`` the same card unwritten,
  ``refresh_model_card`` makes it ready to publish, ``build_model_card`` builds one from a config and an evaluation
  file.
* :mod:`hub_cards.dataset_card` -- :func:`~hub_cards.dataset_card.build_dataset_card` (EmoCue, paper §IV).
* :mod:`hub_cards.card_validation` -- :func:`~hub_cards.card_validation.validate_card`: offline checks (metadata
  parses back to the same dict, licence and task ids are Hub ids (:mod:`hub_cards.hub_ids`), ``eval_results``
  convert to a ``model-index``) and, with ``online=True``, the Hub's own ``/api/validate-yaml``.
* :mod:`hub_cards.card_inputs` -- templates, citation, configs / results read from dicts or JSON / YAML files,
  :func:`~hub_cards.card_inputs.flatten_eval_results` (EmoCue-360 / ``xemogpt eval`` output ->
  ``{metric_name: value}``).
* :mod:`hub_cards.push` -- :func:`~hub_cards.push.publish_checkpoint` (``xemogpt push``: validate a checkpoint
  folder, refresh its card, upload it in one commit), ``push_model``, ``push_dataset``, ``push_metric_space``
  (``create_repo`` + ``upload_folder`` on an injectable ``HfApi``).

This package imports no other package of the project (``training`` writes its checkpoints' cards with it).
"""

from .card_inputs import flatten_eval_results
from .card_validation import validate_card
from .dataset_card import build_dataset_card
from .model_card import build_model_card, refresh_model_card, render_model_card, write_model_card
from .push import (
    HubPushError,
    check_checkpoint,
    publish_checkpoint,
    push_dataset,
    push_metric_space,
    push_model,
    stage_dataset,
    stage_metric_space,
)

__all__ = ["build_model_card", "build_dataset_card", "flatten_eval_results", "render_model_card", "write_model_card",
           "refresh_model_card", "validate_card", "publish_checkpoint", "check_checkpoint", "HubPushError",
           "push_model", "push_dataset", "push_metric_space", "stage_dataset", "stage_metric_space"]
