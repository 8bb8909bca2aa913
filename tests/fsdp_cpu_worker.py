"""FSDP2 with our accelerate config on CPU processes: a few real training steps of each stage's model.

Run by tests/test_training_engines.py as
``accelerate launch --config_file training/configs/accelerate/multi_gpu_fsdp.yaml --num_processes 2 THIS OUT.json
xemogpt`` (stage 3; ``multi_gpu_fsdp_bridges.yaml`` with ``vecb,aecb`` for stages 1 and 2) with ``ACCELERATE_USE_CPU=true``. accelerate 1.15 does not build an FSDP ``Accelerator`` on CPU (it switches to DDP,
see training/engines.py), so this hands accelerate's own FSDP2 preparation (``fsdp2_prepare_model``) the plugin that
``accelerate launch`` built from the YAML (``FSDP_*`` environment), shards each model over the gloo group and trains
it for ``STEPS`` SGD steps on this rank's half of a global batch. An unsharded copy trains in the same process on
the whole batch (one process's view); rank 0 writes the largest loss and parameter differences to ``OUT.json``.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

STEPS = 2


def fsdp_accelerator(plugin, state):
    """What ``fsdp2_prepare_model`` reads from an ``Accelerator`` (fp32 on CPU: mixed precision off)."""
    return SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin), device=torch.device("cpu"),
                           is_main_process=state.is_main_process, mixed_precision="no", torch_device_mesh=None)


def full(param) -> torch.Tensor:
    return param.full_tensor() if hasattr(param, "full_tensor") else param


def run_stage(kind: str, state, rank: int, world: int) -> dict:
    from accelerate.utils import FullyShardedDataParallelPlugin
    from accelerate.utils.fsdp_utils import fsdp2_prepare_model
    from peft import get_peft_model
    from torch.distributed.fsdp import FSDPModule

    from stage_batches import GLOBAL_BATCH, make_batch, make_model, rows

    model = make_model(kind)
    if kind == "xemogpt":  # stage 3: LoRA on the LLM, bridges and projections trained fully
        model = get_peft_model(model, model.lora_config(r=8, lora_alpha=16, lora_dropout=0.0))
    reference = copy.deepcopy(model)
    initial = {n: p.detach().clone() for n, p in reference.named_parameters() if p.requires_grad}
    if kind != "xemogpt":
        reference.alignment.gather_across_ranks = False  # one process on the whole batch: nothing to gather
    plugin = FullyShardedDataParallelPlugin()  # from the FSDP_* variables accelerate launch set from the YAML
    sharded = fsdp2_prepare_model(fsdp_accelerator(plugin, state), model)
    wrapped = sorted({type(m).__name__ for m in sharded.modules() if isinstance(m, FSDPModule)})

    batch = make_batch(kind)
    share = GLOBAL_BATCH // world
    local = rows(batch, rank * share, (rank + 1) * share)
    # plain SGD: the update is the (synchronised) gradient itself, so a difference in it shows undamped
    optimizers = [torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5) for m in (sharded, reference)]
    loss_diffs = []
    for _ in range(STEPS):
        for m, opt, inputs in ((sharded, optimizers[0], local), (reference, optimizers[1], batch)):
            opt.zero_grad()
            loss = m(**inputs).loss
            loss.backward()
            opt.step()
            if m is sharded:
                mean_loss = loss.detach().clone()
                dist.all_reduce(mean_loss)
                mean_loss /= world
            else:
                loss_diffs.append(abs(float(mean_loss) - float(loss)))
    ref_params = dict(reference.named_parameters())
    param_diff = update = 0.0
    for name, p in sharded.named_parameters():
        value = full(p.detach())
        param_diff = max(param_diff, float((value - ref_params[name].detach()).abs().max()))
        if name in initial:
            update = max(update, float((value - initial[name]).abs().max()))
    return {"wrapped": wrapped, "loss_max_abs_diff": max(loss_diffs), "param_max_abs_diff": param_diff,
            "trainable_tensors": len(initial), "largest_update": update, "loss_last": float(mean_loss)}


def main(out: str, kinds: list[str]) -> None:
    from accelerate import PartialState

    torch.set_num_threads(1)
    state = PartialState(cpu=True)  # the MULTI_CPU gloo group accelerate builds for these processes
    results = {}
    for kind in kinds:
        try:
            results[kind] = run_stage(kind, state, state.process_index, state.num_processes)
        except Exception as exc:  # reported, so that the test names the stage and the reason
            results[kind] = {"error": f"{type(exc).__name__}: {exc}"}
    if state.is_main_process:
        Path(out).write_text(json.dumps(results, indent=1))
    state.wait_for_everyone()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2].split(","))
