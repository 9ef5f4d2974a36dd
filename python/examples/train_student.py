#!/usr/bin/env python3
"""Train a PyTorch student from kd's cache: token ids, labels and teacher logits
read from a kd store with kdstore, no teacher run and no tokenizer needed.

The student is kd's `bow` in PyTorch: mean of token embeddings, then a linear
layer. The loss is kd-train's: L = α·CE(z_S, y) + (1−α)·T²·KL(p_T ‖ softmax(z_S/T)),
where p_T are the cached teacher's soft targets at T (rows without a label use the
KD term alone). The best epoch on validation macro-F1 is evaluated on test.

    python3 python/examples/train_student.py --db data.sqlite --task banking77 --epochs 10 --workers 2

Prints one JSON object: per-epoch validation scores and the test accuracy and macro-F1.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from kdstore import KDReader
from kdstore.torch_data import KDIterableDataset, torch_collate


class BagOfTokens(nn.Module):
    def __init__(self, vocab: int, dim: int, classes: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, dim)
        self.out = nn.Linear(dim, classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).float()
        pooled = (self.embedding(ids) * m).sum(1) / m.sum(1).clamp(min=1)
        return self.out(pooled)


def macro_f1(pred: np.ndarray, gold: np.ndarray, classes: int) -> float:
    scores = []
    for c in range(classes):
        tp = int(((pred == c) & (gold == c)).sum())
        fp = int(((pred == c) & (gold != c)).sum())
        fn = int(((pred != c) & (gold == c)).sum())
        if tp + fp + fn == 0:
            continue
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores)) if scores else 0.0


def evaluate(model: nn.Module, reader: KDReader, device: torch.device) -> dict:
    model.eval()
    preds, gold = [], []
    with torch.no_grad():
        for b in reader.batches(batch_size=256):
            logits = model(torch.from_numpy(b["input_ids"]).to(device), torch.from_numpy(b["attention_mask"]).to(device))
            preds.append(logits.argmax(-1).cpu().numpy())
            gold.append(b["labels"])
    if not preds:
        return {"examples": 0, "accuracy": float("nan"), "macro_f1": float("nan")}
    p, g = np.concatenate(preds), np.concatenate(gold)
    return {"examples": int(len(g)), "accuracy": float((p == g).mean()), "macro_f1": macro_f1(p, g, reader.num_classes)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", action="append", required=True, help="a kd store (repeatable)")
    ap.add_argument("--task", help="the task (default: the store's only task with teacher outputs)")
    ap.add_argument("--teacher", action="append", help="teacher name (repeatable; default: the only one)")
    ap.add_argument("--alpha", type=float, default=0.5, help="weight of the label CE term (1 = no KD)")
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--label-fraction", type=float, default=1.0)
    ap.add_argument("--label-seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="torch device (default: cuda when available)")
    ap.add_argument("--save", help="write the best state_dict here")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    train = KDIterableDataset(a.db, task=a.task, split="train", teachers=a.teacher, temperature=a.temperature,
                              label_fraction=a.label_fraction, label_seed=a.label_seed, use_labels=a.alpha > 0,
                              use_teachers=a.alpha < 1, max_tokens=a.max_tokens, shuffle=True, seed=a.seed)
    task = train.reader.task
    val = KDReader(a.db, task=task, split="validation", teachers=a.teacher, require_label=True, max_tokens=a.max_tokens)
    test = KDReader(a.db, task=task, split="test", teachers=a.teacher, require_label=True, max_tokens=a.max_tokens)
    classes = train.reader.num_classes
    device = torch.device(a.device)
    model = BagOfTokens(train.vocab_size, a.dim, classes).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.0)
    loader = DataLoader(train, batch_size=a.batch_size, num_workers=a.workers, collate_fn=torch_collate)
    t = a.temperature
    history, best, best_state = [], -1.0, None
    start = time.time()
    for epoch in range(a.epochs):
        model.train()
        train.set_epoch(epoch)
        seen, total = 0, 0.0
        for b in loader:
            b = {k: v.to(device, non_blocking=True) for k, v in b.items()}
            logits = model(b["input_ids"], b["attention_mask"])
            loss = torch.zeros((), device=device)
            labeled = b["labels"] >= 0
            if a.alpha > 0 and labeled.any():
                loss = loss + a.alpha * F.cross_entropy(logits[labeled], b["labels"][labeled], reduction="sum")
            has = b["has_probs"]
            if a.alpha < 1 and has.any():
                log_s = F.log_softmax(logits[has] / t, dim=-1)
                kl = F.kl_div(log_s, b["teacher_probs"][has], reduction="sum")
                loss = loss + (1 - a.alpha) * t * t * kl
            loss = loss / len(b["labels"])
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            seen += len(b["labels"])
            total += float(loss) * len(b["labels"])
        v = evaluate(model, val, device)
        history.append({"epoch": epoch, "train_examples": seen, "train_loss": total / max(1, seen), **v})
        print(f"epoch {epoch}: loss {total / max(1, seen):.4f}, validation accuracy {v['accuracy']:.3f}, "
              f"macro-F1 {v['macro_f1']:.3f}", file=sys.stderr)
        score = v["macro_f1"] if v["examples"] else -epoch
        if score > best:
            best, best_state = score, copy.deepcopy(model.state_dict())
    if best_state is not None:
        model.load_state_dict(best_state)
    result = {"task": task, "labels": train.labels, "alpha": a.alpha, "temperature": t, "epochs": history,
              "test": evaluate(model, test, device), "device": str(device), "seconds": time.time() - start}
    if a.save:
        torch.save(model.state_dict(), a.save)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
