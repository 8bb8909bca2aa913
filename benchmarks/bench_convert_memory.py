"""Peak memory of converting the authors' release at the paper's widths, side by side with the obvious alternative.

A paper-width checkpoint in the authors' key layout (CLIP ViT-L/14, chinese-hubert-large and Qwen3-4B widths, the
151,936-token vocabulary, LoRA r=512 on q/k/v, one layer per tower, two bridge layers each; random weights, float32
as their ``torch.save`` writes it) is built once (tests/fixtures/official_release.py at the paper's sizes). Then, each in a
fresh process so that its peak RSS is its own:

* ``convert-official``: this package's converter (``torch.load(mmap=True)``, tensors renamed in place, LoRA kept,
  ``save_pretrained`` with that state dict);
* ``naive``: what a user would otherwise write — ``torch.load`` the file, build the model, ``load_state_dict``, fold
  the LoRA and ``save_pretrained``.

    python benchmarks/bench_convert_memory.py [--work DIR] [--out docs/results/bench_convert_memory.json]

Prints the file size, each peak RSS and its ratio to the file size (target for the converter: <= 1.5x).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PAPER_VISION_1L = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=1, num_attention_heads=16,
                       image_size=224, patch_size=14, hidden_act="quick_gelu")
PAPER_CLIP_TEXT_1L = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=1, num_attention_heads=12,
                          vocab_size=49408, hidden_act="quick_gelu")
PAPER_AUDIO_1L = dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=1, num_attention_heads=16,
                      feat_extract_norm="layer", do_stable_layer_norm=True, conv_bias=True)
PAPER_TEXT_1L = dict(vocab_size=151936, hidden_size=2560, intermediate_size=9728, num_hidden_layers=1,
                     num_attention_heads=32, num_key_value_heads=8, head_dim=128, tie_word_embeddings=True,
                     eos_token_id=2, pad_token_id=0)

BUILD = """
import sys; sys.path.insert(0, {root!r})
from pathlib import Path
from benchmarks.bench_convert_memory import PAPER_VISION_1L, PAPER_CLIP_TEXT_1L, PAPER_AUDIO_1L, PAPER_TEXT_1L
from tests.fixtures.official_release import build_release
build_release(Path({work!r}), vision=PAPER_VISION_1L, clip_text=PAPER_CLIP_TEXT_1L, audio=PAPER_AUDIO_1L,
              text=PAPER_TEXT_1L, projection_dim=768, head_dim=768, lora_r=512, lora_alpha=512)
"""

CONVERT = """
import sys; sys.path.insert(0, {root!r})
from modeling_xemogpt.convert_official import convert_official_checkpoint
b = {work!r} + "/backbones/"
convert_official_checkpoint({work!r} + "/full.ckpt", b + "clip", b + "hubert", b + "qwen3", {out!r}, lora_alpha=512)
"""

NAIVE = """
import sys, torch; sys.path.insert(0, {root!r})
from modeling_xemogpt.convert_official import load_release_state_dict, official_config
from modeling_xemogpt.official_layout import route_key, lora_factors
from modeling_xemogpt import XEmoGPTForConditionalGeneration
from processing_xemogpt import XEmoGPTProcessor
b = {work!r} + "/backbones/"
state = torch.load({work!r} + "/full.ckpt", map_location="cpu", weights_only=True)   # the whole file in memory
processor = XEmoGPTProcessor.from_components(vision=b + "clip", audio=b + "hubert", text=b + "qwen3")
model = XEmoGPTForConditionalGeneration(official_config(state, b + "clip", b + "hubert", b + "qwen3",
                                                          processor.tokenizer, 512, merge_lora=True))
renamed, lora = {{}}, {{}}
for key, tensor in state.items():
    target, ours = route_key(key)
    if target == "model":
        renamed[ours] = tensor.reshape(tensor.shape[-2:]) if ours == "vecb.position_embedding" else tensor
    elif target == "lora":
        lora[ours] = tensor
model.load_state_dict(renamed, strict=False)
with torch.no_grad():
    for module, f in lora_factors(lora).items():
        model.language_model.get_submodule(module).weight += 1.0 * f["B"] @ f["A"]
model.save_pretrained({out!r})
"""


def peak_rss_of(code: str) -> tuple[float, float]:
    """Run ``code`` in a fresh interpreter; its peak RSS (GiB) and wall time (s)."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"benchmark step failed (status {status})")
    return usage.ru_maxrss / 2**20, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=None, help="where the paper-width checkpoint is built (default: a temp dir)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp) / "release"
        work.mkdir(parents=True, exist_ok=True)
        if not (work / "full.ckpt").is_file():
            print(f"building the paper-width release checkpoint in {work} ...", flush=True)
            peak_rss_of(BUILD.format(root=str(ROOT), work=str(work)))
        size = (work / "full.ckpt").stat().st_size / 2**30
        results = {"checkpoint_gib": round(size, 3)}
        for name, code in (("convert-official", CONVERT), ("naive", NAIVE)):
            out = Path(tmp) / f"out_{name}"
            rss, wall = peak_rss_of(code.format(root=str(ROOT), work=str(work), out=str(out)))
            results[name] = {"peak_rss_gib": round(rss, 3), "ratio_to_file": round(rss / size, 3), "wall_s": round(wall, 1)}
            print(f"{name:>16}: peak RSS {rss:.2f} GiB = {rss / size:.2f} x the {size:.2f} GiB checkpoint, {wall:.0f} s", flush=True)
        results["naive_over_converter"] = round(results["naive"]["peak_rss_gib"] / results["convert-official"]["peak_rss_gib"], 2)
        print(f"naive / convert-official peak RSS: {results['naive_over_converter']:.2f}x (converter target <= 1.5x the file)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
