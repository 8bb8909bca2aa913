"""The one linear probe (training/linear_probe.py) behind the stage-1/2 probe and the synthetic-clip probe."""

from __future__ import annotations

import numpy as np

from training.data.synthetic_probe import probe_accuracy
from training.linear_probe import linear_probe, majority_accuracy
from training.probe import fit_probe


def _blobs(seed: int, n: int = 60):
    rng = np.random.default_rng(seed)
    y = np.array(["calm", "loud", "soft"] * (n // 3))
    centres = {"calm": [4.0, 0.0], "loud": [0.0, 4.0], "soft": [-4.0, -4.0]}
    return np.array([centres[c] for c in y]) + rng.normal(scale=0.5, size=(n, 2)), y


def test_separable_labels_are_read_exactly_by_every_caller():
    (xtr, ytr), (xte, yte) = _blobs(0), _blobs(1)
    assert (linear_probe(xtr, ytr, xte) == yte).all()
    assert probe_accuracy(xtr, ytr, xte, yte) == 1.0
    assert fit_probe(xtr, ytr, xte, yte)["war"] == 100.0  # percent, as the probe tables print it


def test_one_training_class_predicts_it_and_chance_is_the_majority_share():
    x = np.zeros((4, 2))
    assert list(linear_probe(x, ["sad"] * 4, x[:2])) == ["sad", "sad"]
    assert np.isnan(probe_accuracy(x, ["sad"] * 4, x, ["sad"] * 4))
    assert majority_accuracy(["a", "a", "b"], ["a", "b", "b", "b"]) == 0.25
