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

Texts longer than --max-length tokens are truncated (counted on stderr at
exit); kd's native teacher windows them instead. Embeddings (when kd asks)
are the mean-pooled (or CLS-pooled, per 1_Pooling/config.json) last hidden
states, L2-normalised when modules.json has a Normalize module.
Everything but protocol lines goes to stderr.
"""
import argparse
import hashlib
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def log(msg):
    print(f"hf_teacher: {msg}", file=sys.stderr, flush=True)


def send(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


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

    def run(self, batch):
        torch = self.torch
        texts = [r["text"] for r in batch]
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt",
                             return_overflowing_tokens=False, return_length=True)
        full = self.tokenizer(texts, truncation=False, add_special_tokens=True)["input_ids"]
        self.truncated += sum(1 for ids in full if len(ids) > self.max_length)
        enc.pop("length", None)
        enc = {k: v.to(self.device) for k, v in enc.items()}
        with torch.no_grad():
            if self.classifier:
                out = self.model(**enc, output_hidden_states=True)
                logits = out.logits.float()
                emb = self.pooled(out.hidden_states[-1].float(), enc["attention_mask"])
            else:
                out = self.model(**enc)
                emb = self.pooled(out.last_hidden_state.float(), enc["attention_mask"])
                w, b = self.head
                logits = emb @ w.T + b
        logits = logits.cpu().tolist()
        emb = emb.cpu().tolist()
        for r, l, e in zip(batch, logits, emb):
            resp = {"id": r["id"], "logits": l}
            if r.get("embedding"):
                resp["embedding"] = e
            send(resp)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="local checkpoint directory")
    p.add_argument("--head", help="kd head directory for a plain encoder (head.safetensors + head.json)")
    p.add_argument("--name", help="teacher name reported to kd (default: the directory's base name)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    p.add_argument("--max-length", type=int, help="truncate longer inputs (default: sentence_bert_config or 512)")
    p.add_argument("--batch-size", type=int, default=64, help="largest batch run at once")
    p.add_argument("--fp16", action="store_true", help="run in half precision on GPU")
    args = p.parse_args()

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
    if "error" in reply:
        return
    pending = []
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        pending.append(req)
        if req.get("end_of_batch") or len(pending) >= args.batch_size:
            try:
                teacher.run(pending)
            except Exception as e:
                # One bad batch: answer each example with the error, keep serving.
                for r in pending:
                    send({"id": r["id"], "error": f"{type(e).__name__}: {e}"})
            pending = []
    if pending:
        teacher.run(pending)
    if teacher.truncated:
        log(f"{teacher.truncated} texts were truncated to {teacher.max_length} tokens")


if __name__ == "__main__":
    main()
