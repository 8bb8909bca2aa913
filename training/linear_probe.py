"""The linear probe: how readable a label is from frozen features (a standardised logistic regression, scikit-learn).

Used by the stage-1/2 probe (:mod:`training.probe`: UAR/WAR of emotion and cue labels from the bridges' pooled
output) and by the synthetic-clip probe of the raw backbones (:mod:`training.data.synthetic_probe`).
"""

from __future__ import annotations

import numpy as np


def linear_probe(x_train, y_train, x_test, C: float = 1.0, max_iter: int = 3000) -> np.ndarray:
    """Fit ``StandardScaler → LogisticRegression(C)`` on ``(x_train, y_train)`` and return its predictions on
    ``x_test``; with a single training class every prediction is that class (nothing to fit)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classes = np.unique(np.asarray(y_train))
    if len(classes) < 2:
        return np.full(len(x_test), classes[0] if len(classes) else None, dtype=object)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter))
    clf.fit(x_train, y_train)
    return clf.predict(x_test)


def majority_accuracy(y_train, y_test) -> float:
    """Accuracy of always predicting the training majority class (the probe's chance level)."""
    values, counts = np.unique(np.asarray(y_train), return_counts=True)
    return float((np.asarray(y_test) == values[counts.argmax()]).mean())
