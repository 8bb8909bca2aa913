"""Runs several training stages one after the other inside the same launched processes (one ``accelerate launch``
instead of one per stage: the engine tests pay the start-up of the processes once).

    accelerate launch --config_file CONFIG tests/launch_stages.py STAGES.json

``STAGES.json`` is a list of ``[stage, argv]`` pairs, ``stage`` one of ``stage1`` ... ``stage4``; each runs
through its documented entry point ``training.stageN_*.main(argv)``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training import stage1_vecb, stage2_aecb, stage3_sft, stage4_grpo  # noqa: E402

STAGES = {"stage1": stage1_vecb, "stage2": stage2_aecb, "stage3": stage3_sft, "stage4": stage4_grpo}

if __name__ == "__main__":
    for stage, argv in json.loads(Path(sys.argv[1]).read_text()):
        STAGES[stage].main(argv)
