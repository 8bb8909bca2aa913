"""The end-of-run lines of a stage say what each figure is (training/runtime.py summary_lines)."""

from __future__ import annotations

from training.metrics import loss_drop
from training.runtime import summary_lines


def _history(losses):
    return [{"step": i + 1, "loss": v} for i, v in enumerate(losses)]


def test_training_loss_line_says_how_it_was_averaged():
    figures = {"stage": "stage3_sft", "wall_time_s": 12.0, "train_runtime_s": 10.0, "global_step": 20,
               **loss_drop(_history([6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5]))}
    lines = summary_lines(figures)
    assert lines[0] == "[stage3_sft] done in 12.0 s (training 10.0 s, step 20)"
    assert lines[1] == "  training loss 4.0000 -> 0.7000 (mean of the first / last 5 logged losses)"
    two = {**figures, **loss_drop(_history([3.0, 1.0]))}
    assert summary_lines(two)[1] == "  training loss 3.0000 -> 1.0000 (first / last logged loss)"


def test_held_out_loss_line_says_over_what_and_when():
    base = {"stage": "stage3_sft", "wall_time_s": 1.0, "train_runtime_s": 1.0, "global_step": 4,
            "heldout_samples": 10, "heldout_loss_after": 1.25}
    assert summary_lines({**base, "heldout_loss_before": 7.5})[1] == (
        "  held-out loss 7.5000 -> 1.2500 (mean loss over the 10 held-out samples, before / after training)")
    assert summary_lines(base)[1] == (
        "  held-out loss 1.2500 (mean loss over the 10 held-out samples after training; a resumed run does not "
        "measure it before)")
