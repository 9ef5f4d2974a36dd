#!/usr/bin/env python3
"""Reference speeds for the teacher benchmark: PyTorch CPU and ONNX Runtime on the
same checkpoint, shapes and token ids as kd-bench-teacher.

Prints one JSON line per (implementation, shape):
  {"impl": "pytorch"|"onnxruntime", "batch", "seq", "threads", "median_s", "min_s", "seq_per_s", "gflops"}

Usage: bench_reference.py --model DIR --shapes 32x128,1x64 [--threads 2] [--iterations N] [--onnx-dir DIR]
The ONNX model is exported once with torch.onnx.export into --onnx-dir (default /tmp/kd-bench-teacher-onnx).
"""
import argparse
import json
import os
import statistics
import time


def ids_for(batch, seq, vocab):
    """Same formula as tools/bench/teacher/swift/main.swift."""
    m = min(20000, vocab - 1000)
    return [[101] + [1000 + (b * 7919 + j * 104729) % m for j in range(1, seq - 1)] + [102] for b in range(batch)]


def flops(cfg, batch, seq):
    H, I, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    T = batch * seq
    return L * (T * 2 * H * (4 * H + 2 * I) + batch * 4 * seq * seq * H)


def timed(fn, iterations, warmup):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), min(ts)


def report(impl, batch, seq, threads, med, mn, fl):
    print(json.dumps({"impl": impl, "batch": batch, "seq": seq, "threads": threads, "median_s": med,
                      "min_s": mn, "seq_per_s": batch / med, "gflops": fl / med / 1e9}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--shapes", default="32x128,1x64")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--onnx-dir", default="/tmp/kd-bench-teacher-onnx")
    ap.add_argument("--skip-onnx", action="store_true")
    a = ap.parse_args()

    import torch
    from transformers import AutoModel
    torch.set_num_threads(a.threads)
    model = AutoModel.from_pretrained(a.model).eval()
    cfg = model.config
    shapes = [tuple(int(v) for v in s.split("x")) for s in a.shapes.split(",")]
    its = lambda b: a.iterations if b > 1 else a.iterations * 10

    for batch, seq in shapes:
        ids = torch.tensor(ids_for(batch, seq, cfg.vocab_size))
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            med, mn = timed(lambda: model(input_ids=ids, attention_mask=mask), its(batch), a.warmup)
        report("pytorch", batch, seq, a.threads, med, mn, flops(cfg, batch, seq))

    if a.skip_onnx:
        return
    import numpy as np
    import onnxruntime as ort
    os.makedirs(a.onnx_dir, exist_ok=True)
    path = os.path.join(a.onnx_dir, "model.onnx")
    if not os.path.exists(path):
        ids = torch.tensor(ids_for(2, 16, cfg.vocab_size))
        kwargs = dict(input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"},
                                    "last_hidden_state": {0: "b", 1: "s"}}, opset_version=17)
        try:
            torch.onnx.export(model, (ids, torch.ones_like(ids)), path, dynamo=False, **kwargs)
        except TypeError:
            torch.onnx.export(model, (ids, torch.ones_like(ids)), path, **kwargs)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    for batch, seq in shapes:
        ids = np.array(ids_for(batch, seq, cfg.vocab_size), dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        med, mn = timed(lambda: sess.run(None, feed), its(batch), a.warmup)
        report("onnxruntime", batch, seq, a.threads, med, mn, flops(cfg, batch, seq))


if __name__ == "__main__":
    main()
