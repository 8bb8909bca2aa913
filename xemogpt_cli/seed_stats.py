"""Mean ± std over training seeds, as every study of this package reports its figures (``xemogpt ablate``,
``xemogpt rl-study``, ``xemogpt rl-study --labels``, the grounding study)."""

from __future__ import annotations

import statistics


def mean_std(values: list[float]) -> dict:
    """``{"mean", "std", "n"}`` of the values that are not ``None`` (sample std; 0 for one value; ``None`` for
    none)."""
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def pm(stat: dict, scale: float = 100.0, digits: int = 1) -> str:
    """``"mean ± std"`` of a :func:`mean_std` result, times ``scale`` (fractions as percent by default)."""
    if stat["mean"] is None:
        return "-"
    return f"{scale * stat['mean']:.{digits}f} ± {scale * stat['std']:.{digits}f}"
