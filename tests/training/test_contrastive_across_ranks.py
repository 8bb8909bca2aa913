"""InfoNCE negatives across ranks (eq.3, eq.6): 2 CPU processes over gloo, each with half of a global batch and
DDP gradient averaging, give the loss and the bridge gradients of one process on the whole batch."""

from __future__ import annotations

import math

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from modeling_xemogpt.contrastive import gather_across_ranks, info_nce_loss
from stage_batches import GLOBAL_BATCH, make_batch, make_model, rows

WORLD = 2


def loss_and_grads(model, batch: dict, scale: float = 1.0):
    model.zero_grad()
    loss = model(**batch).loss
    (loss * scale).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return loss.detach(), grads


# (model, gather on?, rows of rank 0): the second split is uneven (a short last batch on rank 1)
CASES = [("vecb", True, 4), ("vecb", False, 4), ("aecb", True, 4), ("aecb", False, 4), ("aecb", True, 5)]


def _worker(rank: int, init_file: str, out_path: str):
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    results = []
    for kind, gather, split in CASES:
        model = make_model(kind, gather)
        batch = make_batch(kind)
        start, stop = (0, split) if rank == 0 else (split, GLOBAL_BATCH)
        # DDP averages the gradients of the ranks; weighting each rank's mean loss by its share of the global batch
        # makes that average the gradient of the global mean also when the shares differ
        scale = WORLD * (stop - start) / GLOBAL_BATCH
        loss, grads = loss_and_grads(DDP(model), rows(batch, start, stop), scale)
        results.append({"loss": loss, "rows": stop - start, "grads": {n.removeprefix("module."): g for n, g in grads.items()}})
    # eval mode never gathers: held-out retrieval runs on one rank only
    model = make_model("aecb", True).eval()
    with torch.no_grad():
        eval_loss = model(**rows(make_batch("aecb"), 4 * rank, 4 * rank + 4)).loss
    torch.save({"cases": results, "eval_loss": eval_loss}, f"{out_path}.rank{rank}")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(str(tmp / "rendezvous"), str(tmp / "out")), nprocs=WORLD, join=True)
    return [torch.load(f"{tmp / 'out'}.rank{r}") for r in range(WORLD)]


def one_process_reference(kind: str, gather: bool = True):
    return loss_and_grads(make_model(kind, gather), make_batch(kind))


def global_loss(ranks: list[dict], case: int) -> float:
    """The mean over the global batch, from each rank's mean over its rows."""
    return sum(float(r["cases"][case]["loss"]) * r["cases"][case]["rows"] for r in ranks) / GLOBAL_BATCH


@pytest.mark.parametrize("case", [0, 2, 4], ids=["vecb", "aecb", "aecb-uneven-5-3"])
def test_two_processes_equal_one_process_on_the_global_batch(two_process_results, case):
    kind = CASES[case][0]
    ref_loss, ref_grads = one_process_reference(kind)
    got = global_loss(two_process_results, case)
    print(f"\n{kind} split {CASES[case][2]}/{GLOBAL_BATCH - CASES[case][2]}: loss 1 process {float(ref_loss):.6f}, "
          f"2 processes {got:.6f}, |diff| {abs(got - float(ref_loss)):.2e}")
    assert got == pytest.approx(float(ref_loss), abs=1e-5)
    for rank in two_process_results:  # DDP leaves the same averaged gradients on both ranks
        grads = rank["cases"][case]["grads"]
        assert grads.keys() == ref_grads.keys()
        diffs = {n: float((grads[n] - ref_grads[n]).abs().max()) for n in ref_grads}
        worst = max(diffs, key=diffs.get)
        scale = max(float(g.abs().max()) for g in ref_grads.values())
        print(f"  max |grad diff| over {len(diffs)} tensors: {diffs[worst]:.2e} ({worst}; largest |grad| {scale:.2e})")
        assert diffs[worst] < 1e-5, (worst, diffs[worst])
    # the contrastive head and the bridge itself both received the cross-rank gradient
    assert ref_grads["alignment.text_projection.weight"].abs().sum() > 0
    assert ref_grads["bridge.encoder.layers.0.self_attn.in_proj_weight"].abs().sum() > 0


@pytest.mark.parametrize("case", [1, 3], ids=["vecb", "aecb"])
def test_local_negatives_change_the_objective(two_process_results, case):
    """With the switch off each rank contrasts with its own half only: the loss is no longer the global one."""
    kind = CASES[case][0]
    ref_loss, ref_grads = one_process_reference(kind)
    local_loss, _ = one_process_reference(kind, gather=False)
    assert float(local_loss) == pytest.approx(float(ref_loss), abs=1e-6)  # one process: the switch changes nothing
    got = global_loss(two_process_results, case)
    print(f"\n{kind} without the gather: 1 process {float(ref_loss):.4f}, 2 processes {got:.4f}")
    assert abs(got - float(ref_loss)) > 0.1
    grads = two_process_results[0]["cases"][case]["grads"]
    assert float((grads["alignment.text_projection.weight"] - ref_grads["alignment.text_projection.weight"]).abs().max()) > 1e-4


def test_eval_mode_keeps_local_negatives(two_process_results):
    model = make_model("aecb", True).eval()
    batch = make_batch("aecb")
    with torch.no_grad():
        for r, result in enumerate(two_process_results):
            local = model(**rows(batch, 4 * r, 4 * r + 4)).loss
            assert float(result["eval_loss"]) == pytest.approx(float(local), abs=1e-6)


def test_gather_is_a_no_op_in_one_process():
    x = torch.randn(3, 5, requires_grad=True)
    gathered, offset = gather_across_ranks(x)
    assert gathered is x and offset == 0
    # the positive offset picks the rows of this rank's slice in the gathered keys
    q, k = torch.randn(2, 4), torch.randn(6, 4)
    scale = torch.tensor(math.log(1 / 0.1))
    logits = 10.0 * torch.nn.functional.normalize(q, dim=-1) @ torch.nn.functional.normalize(k, dim=-1).t()
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([3, 4]))
    assert info_nce_loss(q, k, scale, positive_offset=3).item() == pytest.approx(expected.item(), rel=1e-5)


def test_scalar_temperature_of_older_checkpoints_still_loads(tmp_path):
    """The temperature is a 1-element parameter (FSDP2 and DeepSpeed 0.19.8 reject 0-dim ones); stage-1/2 outputs
    saved with the former 0-dim one still load, and stage 3 still takes their bridge."""
    from safetensors.torch import save_file

    from modeling_xemogpt import XEmoGPTForConditionalGeneration
    from stage_batches import tiny_config

    old = make_model("vecb")
    assert old.alignment.logit_scale.shape == (1,)
    state = {k: v.detach().clone() for k, v in old.state_dict().items()}
    state["alignment.logit_scale"] = torch.tensor(2.5)  # as checkpoints before this change hold it
    fresh = make_model("vecb")
    fresh.load_state_dict(state)  # torch path (e.g. the Trainer resuming a checkpoint)
    assert fresh.alignment.logit_scale.shape == (1,) and fresh.alignment.logit_scale.detach().item() == 2.5
    old.config.save_pretrained(tmp_path)
    save_file(state, tmp_path / "model.safetensors")
    torch.manual_seed(1)
    model = XEmoGPTForConditionalGeneration(tiny_config()).load_bridges(vecb=tmp_path)
    assert torch.equal(model.vecb.position_embedding, state["bridge.position_embedding"])
