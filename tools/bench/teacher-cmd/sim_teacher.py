#!/usr/bin/env python3
"""A simulated GPU teacher for kd-teacher-cache --teacher-cmd (benchmarks).

It speaks kd's protocol (schemas/teacher-protocol.schema.json) the way a
well-built GPU teacher does: a reader thread parses requests, the "device"
thread sleeps --ms-per-256 milliseconds per 256 examples of each batch (the
way a GPU computes a batch while the CPU waits), and a writer thread answers.
It reads kd's token ids when offered (never tokenizes) and answers in base64
float32 when kd accepts it (--json-logits: JSON numbers).

At exit it writes --stats FILE (JSON): examples, batches, device_seconds (the
sleeps), span_seconds (first request read to last answer written) and busy =
device_seconds / span_seconds.
"""
import argparse, base64, json, os, queue, struct, sys, threading, time

p = argparse.ArgumentParser()
p.add_argument("--ms-per-256", type=float, default=20.0)
p.add_argument("--stats", required=True)
p.add_argument("--json-logits", action="store_true")
p.add_argument("--text", action="store_true", help="ask for text, not token ids")
args = p.parse_args()

started = time.perf_counter()
hello = json.loads(sys.stdin.readline())
labels = hello["labels"]
n = len(labels)
reply = {"kd_protocol": 1, "name": "sim-gpu", "num_outputs": n}
toks = hello.get("tokenizers", [])
use_ids = bool(toks) and not args.text
if use_ids:
    reply["tokenizer_hash"] = toks[0]["content_hash"]
    reply["text"] = False
b64 = "f32-base64" in hello.get("encodings", []) and not args.json_logits
sys.stdout.write(json.dumps(reply) + "\n")
sys.stdout.flush()

batches, results = queue.Queue(maxsize=4), queue.Queue(maxsize=4)
DONE = object()
stats = {"examples": 0, "batches": 0, "device_seconds": 0.0, "first_request": None, "last_answer": None}

def reader():
    pending = []
    for line in sys.stdin:
        if stats["first_request"] is None:
            stats["first_request"] = time.perf_counter()
        req = json.loads(line)
        pending.append(req)
        if req.get("end_of_batch"):
            batches.put(pending)
            pending = []
    if pending:
        batches.put(pending)
    batches.put(DONE)

def writer():
    out = sys.stdout
    while True:
        batch = results.get()
        if batch is DONE:
            return
        lines = []
        for r in batch:
            k = len(r["ids"]) if use_ids else len(r["text"])
            logits = [float(k % 7) - c * 0.01 for c in range(n)]
            if b64:
                lines.append('{"id":%d,"logits_b64":"%s"}' % (r["id"], base64.b64encode(struct.pack("<%df" % n, *logits)).decode()))
            else:
                lines.append(json.dumps({"id": r["id"], "logits": logits}, separators=(",", ":")))
        out.write("\n".join(lines) + "\n")
        out.flush()
        stats["last_answer"] = time.perf_counter()

threading.Thread(target=reader, daemon=True).start()
w = threading.Thread(target=writer, daemon=True)
w.start()
while True:
    batch = batches.get()
    if batch is DONE:
        break
    t = args.ms_per_256 / 1000.0 * len(batch) / 256.0
    time.sleep(t)  # the "GPU" computes; the CPU is free
    stats["device_seconds"] += t
    stats["examples"] += len(batch)
    stats["batches"] += 1
    results.put(batch)
results.put(DONE)
w.join()
span = (stats["last_answer"] - stats["first_request"]) if stats["first_request"] and stats["last_answer"] else 0.0
stats.update(span_seconds=span, busy=(stats["device_seconds"] / span if span else 0.0),
             startup_seconds=(stats["first_request"] or started) - started, token_ids=use_ids, base64=b64)
stats.pop("first_request"); stats.pop("last_answer")
with open(args.stats, "w") as f:
    json.dump(stats, f)
