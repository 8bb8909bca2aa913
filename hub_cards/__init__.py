"""Hugging Face Hub cards and push helpers for XEmoGPT checkpoints, EmoCue datasets and the EmoCue-360 Space.

* :mod:`hub_cards.cards` -- model / dataset cards rendered from ``templates/`` with ``huggingface_hub``'s
  ``ModelCard`` / ``DatasetCard``; :func:`~hub_cards.cards.write_model_card` writes a checkpoint's ``README.md``,
  :func:`~hub_cards.cards.validate_card` checks any card.
* :mod:`hub_cards.push` -- :func:`~hub_cards.push.publish_checkpoint` (``xemogpt push``: validate a checkpoint
  folder, refresh its card, upload it in one commit), ``push_model``, ``push_dataset``, ``push_metric_space``
  (``create_repo`` + ``upload_folder`` on an injectable ``HfApi``).

This package imports no other package of the project (``training`` writes its checkpoints' cards with it).
"""

from .cards import (
    build_dataset_card,
    build_model_card,
    flatten_eval_results,
    refresh_model_card,
    render_model_card,
    validate_card,
    write_model_card,
)
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
