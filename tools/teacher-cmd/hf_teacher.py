#!/usr/bin/env python3
"""Reference external teacher for kd-teacher-cache (`--teacher-cmd`).

Speaks kd's JSON-lines protocol (schemas/teacher-protocol.schema.json,
docs/teacher-cache.md) on stdin/stdout with a Hugging Face `transformers`
model, on GPU when there is one:

    kd-teacher-cache --teacher-cmd "python3 tools/teacher-cmd/hf_teacher.py MODEL_DIR"

MODEL_DIR is a local checkpoint (never downloaded: HF_HUB_OFFLINE is forced):
  * a sequence classifier (`*ForSequenceClassification`): its own head and
    id2label are used; kd maps the labels onto the task's (a mismatch is an error);
  * a plain encoder (e.g. all-MiniLM-L6-v2) plus `--head DIR` holding a kd
    head (`head.safetensors` + `head.json`, as written by
    `kd-teacher-cache --save-head DIR`, under DIR/<task>/ or DIR itself):
    logits = pooled embedding · Wᵀ + b.

Token ids: kd's handshake lists the tokenizers its examples are tokenized
with (`tokenizers`, by content hash). When one of them is this model's own
tokenizer file (FNV-1a 64 of tokenizer.json or vocab.txt, as kd hashes it), or
--tokenizer-hash names it, the teacher asks for token ids only (`"text":
false`) and never tokenizes; otherwise it tokenizes the text (--text forces this).

Pipelined: a reader thread parses requests (and tokenizes text) while the
model computes the previous batch, and a writer thread waits for the device
and writes the answers (logits as base64 float32 when kd offers it), so that a
GPU stays busy while kd keeps several batches in flight (--window).

Texts longer than --max-length tokens are truncated (counted on stderr at
exit); kd's native teacher windows them instead. Embeddings (when kd asks)
are the mean-pooled (or CLS-pooled, per 1_Pooling/config.json) last hidden
states, L2-normalised when modules.json has a Normalize module.
Everything but protocol lines goes to stderr.
"""
import argparse
import base64
import hashlib
import json
import os
import queue
import struct
import sys
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def log(msg):
    print(f"hf_teacher: {msg}", file=sys.stderr, flush=True)


_out_lock = threading.Lock()


def send(obj):
    write_lines([json.dumps(obj, separators=(",", ":"))])


def write_lines(lines):
    with _out_lock:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


def fnv1a64_file(path):
    """kd's tokenizers.content_hash of a file: FNV-1a 64 of its bytes, 16 hex digits."""
    h = 0xCBF29CE484222325
    with open(path, "rb") as f:
        data = f.read()
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def load_head(head_dir, task):
    """A kd LinearHead: (weight [C x D], bias [C], labels)."""
    from safetensors.numpy import load_file
    for d in (os.path.join(head_dir, task), head_dir):
        if os.path.exists(os.path.join(d, "head.json")):
            meta = json.load(open(os.path.join(d, "head.json")))
            t = load_file(os.path.join(d, "head.safetensors"))
            return t["weight"], t["bias"], meta["labels"]
    raise FileNotFoundError(f"no head.json under {head_dir} or {head_dir}/{task}")


class Teacher:
    def __init__(self, args):
        import torch
        from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        self.torch = torch
        self.args = args
        self.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        d = args.model
        self.config = AutoConfig.from_pretrained(d, local_files_only=True)
        self.tokenizer = AutoTokenizer.from_pretrained(d, local_files_only=True)
        archs = self.config.architectures or []
        self.classifier = any(a.endswith("ForSequenceClassification") for a in archs) and not args.head
        if self.classifier:
            self.model = AutoModelForSequenceClassification.from_pretrained(d, local_files_only=True)
            n = self.config.num_labels
            self.labels = [self.config.id2label[i] for i in range(n)]
        else:
            self.model = AutoModel.from_pretrained(d, local_files_only=True)
            self.labels = None
        self.model.to(self.device).eval()
        if args.fp16 and self.device == "cuda":
            self.model.half()
        self.pooling = "mean"
        pool_cfg = os.path.join(d, "1_Pooling", "config.json")
        if os.path.exists(pool_cfg) and json.load(open(pool_cfg)).get("pooling_mode_cls_token"):
            self.pooling = "cls"
        self.normalize = False
        modules = os.path.join(d, "modules.json")
        if os.path.exists(modules):
            self.normalize = any(m.get("type", "").endswith("Normalize") for m in json.load(open(modules)))
        max_len = args.max_length
        if max_len is None:
            sb = os.path.join(d, "sentence_bert_config.json")
            max_len = json.load(open(sb)).get("max_seq_length") if os.path.exists(sb) else None
            max_len = min(max_len or 512, getattr(self.config, "max_position_embeddings", 512))
        self.max_length = max_len
        weights = os.path.join(d, "model.safetensors")
        self.checkpoint = file_hash(weights) if os.path.exists(weights) else None
        self.head = None
        self.truncated = 0
        self.stats = {"examples": 0, "batches": 0}

    def own_tokenizer_hashes(self):
        out = {}
        for f in ("tokenizer.json", "vocab.txt"):
            path = os.path.join(self.args.model, f)
            if os.path.exists(path):
                out[fnv1a64_file(path)] = f
        return out

    def handshake(self, hello):
        task = hello.get("task", "")
        reply = {"kd_protocol": 1, "name": self.args.name or os.path.basename(os.path.normpath(self.args.model)),
                 "embedding_dim": self.config.hidden_size}
        if self.checkpoint:
            reply["checkpoint"] = self.checkpoint
        if self.classifier:
            reply["labels"] = self.labels
        elif self.args.head:
            w, b, labels = load_head(self.args.head, task)
            if w.shape[1] != self.config.hidden_size:
                return {"error": f"head input size {w.shape[1]} != hidden size {self.config.hidden_size}"}
            self.head = (self.torch.tensor(w, device=self.device), self.torch.tensor(b, device=self.device))
            self.labels = labels
            reply["labels"] = labels
        else:
            return {"error": f"{self.args.model} has no classification head; pass --head DIR (a kd head.safetensors)"}
        reply["num_outputs"] = len(self.labels)
        # Token ids instead of text, when kd holds this model's tokenization.
        offered = {t.get("content_hash"): t for t in hello.get("tokenizers", [])}
        self.use_ids = False
        if not self.args.text:
            mine = {self.args.tokenizer_hash: "--tokenizer-hash"} if self.args.tokenizer_hash else self.own_tokenizer_hashes()
            match = next((h for h in mine if h in offered), None)
            if match:
                reply["tokenizer_hash"] = match
                reply["text"] = False
                self.use_ids = True
                log(f"reading kd's token ids ({offered[match].get('name')}, {match}); no tokenizing here")
            elif offered:
                log("kd's tokenizers (%s) are not this model's (%s): tokenizing the text"
                    % (", ".join(offered), ", ".join(mine) or "none"))
        self.b64 = "f32-base64" in hello.get("encodings", []) and not self.args.json_logits
        self.pad_id = self.tokenizer.pad_token_id or 0
        return reply

    def pooled(self, hidden, mask):
        if self.pooling == "cls":
            e = hidden[:, 0]
        else:
            m = mask.unsqueeze(-1).to(hidden.dtype)
            e = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        if self.normalize:
            e = self.torch.nn.functional.normalize(e, dim=-1)
        return e

    def encode(self, batch):
        """CPU tensors for a batch of requests (reader thread): input_ids, attention_mask."""
        torch = self.torch
        if self.use_ids:
            seqs = []
            for r in batch:
                ids = r["ids"]
                if len(ids) > self.max_length:
                    self.truncated += 1
                    ids = ids[: self.max_length - 1] + ids[-1:]  # keep the final [SEP]
                seqs.append(ids)
            width = max(len(x) for x in seqs)
            input_ids = torch.full((len(seqs), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for i, x in enumerate(seqs):
                input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
                mask[i, : len(x)] = 1
            enc = {"input_ids": input_ids, "attention_mask": mask}
        else:
            texts = [r["text"] for r in batch]
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt",
                                 return_length=True)
            lengths = enc.pop("length")
            self.truncated += int((lengths >= self.max_length).sum())
            enc = dict(enc)
        if self.device == "cuda":
            enc = {k: v.pin_memory() for k, v in enc.items()}
        return enc

    def forward(self, enc):
        """Starts the model on a batch (main thread); returns device tensors (logits, embedding)."""
        torch = self.torch
        enc = {k: v.to(self.device, non_blocking=True) for k, v in enc.items()}
        with torch.inference_mode():
            if self.classifier:
                out = self.model(**enc, output_hidden_states=True)
                logits = out.logits.float()
                emb = self.pooled(out.hidden_states[-1].float(), enc["attention_mask"])
            else:
                out = self.model(**enc)
                emb = self.pooled(out.last_hidden_state.float(), enc["attention_mask"])
                w, b = self.head
                logits = emb @ w.T + b
        return logits, emb

    def answer(self, batch, logits, emb):
        """Waits for the device and writes one response per request (writer thread)."""
        want_emb = any(r.get("embedding") for r in batch)
        logits = logits.cpu().numpy()
        emb = emb.cpu().numpy() if want_emb else None
        lines = []
        for i, r in enumerate(batch):
            if self.b64:
                resp = {"id": r["id"], "logits_b64": base64.b64encode(logits[i].astype("<f4").tobytes()).decode()}
                if r.get("embedding"):
                    resp["embedding_b64"] = base64.b64encode(emb[i].astype("<f4").tobytes()).decode()
            else:
                resp = {"id": r["id"], "logits": logits[i].tolist()}
                if r.get("embedding"):
                    resp["embedding"] = emb[i].tolist()
            lines.append(json.dumps(resp, separators=(",", ":")))
        write_lines(lines)


def fail_batch(batch, e):
    # One bad batch: answer each example with the error, keep serving.
    write_lines([json.dumps({"id": r["id"], "error": f"{type(e).__name__}: {e}"}) for r in batch])


def serve(teacher, args):
    """reader thread -> (main thread: model) -> writer thread, with bounded queues."""
    depth = max(2, args.queue)
    batches = queue.Queue(maxsize=depth)
    results = queue.Queue(maxsize=depth)
    done = object()

    def reader():
        pending = []
        try:
            for line in sys.stdin:
                if not line.strip():
                    continue
                pending.append(json.loads(line))
                teacher.stats.setdefault("first_request", time.time())
                if pending[-1].get("end_of_batch") or len(pending) >= args.batch_size:
                    batch, pending = pending, []
                    try:
                        batches.put((batch, teacher.encode(batch)))
                    except Exception as e:
                        batches.put((batch, e))
            if pending:
                try:
                    batches.put((pending, teacher.encode(pending)))
                except Exception as e:
                    batches.put((pending, e))
        finally:
            batches.put(done)

    def writer():
        while True:
            item = results.get()
            if item is done:
                return
            batch, out = item
            if isinstance(out, Exception):
                fail_batch(batch, out)
                continue
            try:
                teacher.answer(batch, *out)
            except Exception as e:
                fail_batch(batch, e)
            teacher.stats["last_answer"] = time.time()
            teacher.stats["examples"] += len(batch)
            teacher.stats["batches"] += 1

    threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=writer, daemon=True)]
    for t in threads:
        t.start()
    while True:
        item = batches.get()
        if item is done:
            break
        batch, enc = item
        if isinstance(enc, Exception):
            results.put((batch, enc))
            continue
        try:
            results.put((batch, teacher.forward(enc)))
        except Exception as e:
            results.put((batch, e))
    results.put(done)
    threads[1].join()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="local checkpoint directory")
    p.add_argument("--head", help="kd head directory for a plain encoder (head.safetensors + head.json)")
    p.add_argument("--name", help="teacher name reported to kd (default: the directory's base name)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--max-length", type=int, help="truncate longer inputs (default: sentence_bert_config or 512)")
    p.add_argument("--batch-size", type=int, default=256, help="largest batch run at once (kd's --batch-size sets the usual size)")
    p.add_argument("--fp16", action="store_true", help="run in half precision on GPU")
    p.add_argument("--text", action="store_true", help="always tokenize the text, even when kd offers this model's token ids")
    p.add_argument("--tokenizer-hash", help="kd tokenizer content hash whose ids this model reads (default: hash of its own tokenizer.json / vocab.txt)")
    p.add_argument("--json-logits", action="store_true", help="answer logits as JSON numbers even when kd accepts base64 float32")
    p.add_argument("--queue", type=int, default=4, help="batches buffered between the reader, the model and the writer")
    p.add_argument("--stats", help="write timings (JSON, epoch seconds) to this file at exit (benchmarks)")
    args = p.parse_args()
    stats = {"process_start": time.time()}

    line = sys.stdin.readline()
    if not line:
        return
    hello = json.loads(line)
    if hello.get("kd_protocol") != 1:
        send({"error": f"unsupported kd_protocol {hello.get('kd_protocol')}"})
        return
    try:
        teacher = Teacher(args)
        reply = teacher.handshake(hello)
    except Exception as e:  # report a load failure through the protocol
        send({"error": f"cannot load {args.model}: {e}"})
        return
    send(reply)
    stats["ready"] = time.time()
    if "error" in reply:
        return
    serve(teacher, args)
    stats.update(teacher.stats)
    stats["end"] = time.time()
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats, f)
    if teacher.truncated:
        log(f"{teacher.truncated} texts were truncated to {teacher.max_length} tokens")


if __name__ == "__main__":
    main()
