#!/usr/bin/env python3
"""Reference for the ingest benchmark: what most users run today.

HF `datasets` load_dataset (csv / text) + map(tokenizer, batched=True) +
save_to_disk, with the same tokenizer.json kd uses (through transformers'
PreTrainedTokenizerFast, i.e. HF's Rust tokenizers), on the same files.
Prints one JSON line: seconds, examples, tokens, bytes.
"""
import json, os, sys, time, tempfile, shutil

def main():
    shared, tokenizer_json, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = tempfile.mkdtemp(prefix="hf-cache-")
    t0 = time.perf_counter()
    import datasets
    from transformers import PreTrainedTokenizerFast
    datasets.disable_progress_bars()
    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json)
    files = {
        "medical": ("csv", [f"{shared}/medical/medical_abstracts_tc/medical_tc_test.csv"], "medical_abstract"),
        "banking": ("csv", [f"{shared}/financial/banking77/train.csv", f"{shared}/financial/banking77/test.csv"], "text"),
        "claudette": ("text", sorted(
            os.path.join(f"{shared}/legal/claudette_unfair_tos_en/sentences", f)
            for f in os.listdir(f"{shared}/legal/claudette_unfair_tos_en/sentences")), "text"),
    }
    examples = tokens = nbytes = 0
    for name, (kind, paths, col) in files.items():
        nbytes += sum(os.path.getsize(p) for p in paths)
        ds = datasets.load_dataset(kind, data_files=paths, split="train", cache_dir=cache)
        if kind == "text":
            ds = ds.filter(lambda b: [bool(t.strip()) for t in b["text"]], batched=True)
        ds = ds.map(lambda b: tok(b[col]), batched=True)
        ds.save_to_disk(os.path.join(out_dir, name))
        examples += len(ds)
        tokens += sum(len(x) for x in ds["input_ids"])
    secs = time.perf_counter() - t0
    shutil.rmtree(cache, ignore_errors=True)
    print(json.dumps({"seconds": secs, "examples": examples, "tokens": tokens, "bytes": nbytes}))

if __name__ == "__main__":
    main()
