#!/usr/bin/env bash
# Paper-size check on one GPU (docs/performance.md): torch, transformers >= 5.17 and peft only; JSON to $1.
cd "$(dirname "$0")/.." && HF_HUB_OFFLINE=1 exec "${PYTHON:-python3}" benchmarks/bench_paper_size.py --out "${1:-paper_size_gpu.json}" "${@:2}"
