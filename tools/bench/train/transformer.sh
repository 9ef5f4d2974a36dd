#!/usr/bin/env bash
# Transformer student (issue 13): one training step of the default student
# (3 layers, 384 hidden, 12 heads, 1536 feed-forward; batch 32 × 128 tokens,
# 2 threads, AdamW, clipping) in kd vs Hugging Face BertForSequenceClassification
# on PyTorch CPU with the same shape, batch and threads, interleaved rounds in
# the same run (and PyTorch with bf16 autocast, for reference; kd is fp32); and inference of the student vs the teacher (all-MiniLM-L6-v2,
# kd's inference encoder). Prints a markdown table of medians and paired ratios.
#   KD_BIN=.build/release tools/bench/train/transformer.sh [rounds=3] [steps=5]
set -euo pipefail
BIN=${KD_BIN:?set KD_BIN to the folder of release binaries}
ROUNDS=${1:-3}
STEPS=${2:-5}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for i in $(seq 1 "$ROUNDS"); do
  "$BIN/kd-train" bench transformer --steps "$STEPS" --threads 2 --batch-size 32 --max-tokens 128 \
    --init-from "$ROOT/models/all-MiniLM-L6-v2" > "$WORK/kd.$i.json"
  python3 "$HERE/transformer_torch.py" --steps "$STEPS" --threads 2 --batch 32 --seq 128 > "$WORK/torch.$i.json"
  python3 "$HERE/transformer_torch.py" --steps "$STEPS" --threads 2 --batch 32 --seq 128 --bf16 > "$WORK/torchbf16.$i.json"
done
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, statistics, sys
w, n = sys.argv[1], int(sys.argv[2])
kd = [json.load(open(f"{w}/kd.{i}.json")) for i in range(1, n + 1)]
th = [json.load(open(f"{w}/torch.{i}.json")) for i in range(1, n + 1)]
tb = [json.load(open(f"{w}/torchbf16.{i}.json")) for i in range(1, n + 1)]
med = statistics.median
ks = med(k["step_median_s"] for k in kd); ts = med(t["step_median_s"] for t in th)
pair = med(t["step_median_s"] / k["step_median_s"] for k, t in zip(kd, th))
ki = med(k["inference_examples_per_s"] for k in kd); ti = med(t["inference_examples_per_s"] for t in th)
print("| measure (batch 32 × 128 tokens, 2 threads) | kd | reference | ratio (paired median) |")
print("|---|---:|---:|---:|")
print(f"| training step, default student (3×384, AdamW): seconds | {ks:.3f} | {ts:.3f} (PyTorch {th[0]['torch']}) | {pair:.2f}x |")
print(f"| same, PyTorch with bf16 autocast (kd stays fp32) | {ks:.3f} | {med(t['step_median_s'] for t in tb):.3f} | {med(t['step_median_s'] / k['step_median_s'] for k, t in zip(kd, tb)):.2f}x |")
print(f"| student inference: examples/s | {ki:.1f} | {ti:.1f} (PyTorch) | {med(k['inference_examples_per_s'] / t['inference_examples_per_s'] for k, t in zip(kd, th)):.2f}x |")
if "teacher_inference_examples_per_s" in kd[0]:
    te = med(k["teacher_inference_examples_per_s"] for k in kd)
    r = med(k["inference_examples_per_s"] / k["teacher_inference_examples_per_s"] for k in kd)
    print(f"| student ({kd[0]['layers']} layers) vs teacher ({kd[0]['teacher_layers']} layers) inference, kd: examples/s | {ki:.1f} | {te:.1f} (teacher) | {r:.2f}x (bar {kd[0]['teacher_layers'] / kd[0]['layers']:.1f}x) |")
PY
