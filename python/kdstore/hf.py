"""Hugging Face ``datasets`` adapter (optional: needs ``datasets``).

For example::

    from kdstore.hf import to_hf_dataset
    ds = to_hf_dataset("data.sqlite", task="banking77", split="train", temperature=2.0)
    ds[0]["input_ids"], ds[0]["label"], ds[0]["teacher_probs"]
"""

from __future__ import annotations

from .reader import KDReader


def _generate(config: dict):
    reader = KDReader(**config)
    for ex in reader:
        row = {"id": ex["id"], "store": ex["store"], "input_ids": ex["input_ids"], "label": ex["label"],
               "teacher_logits": ex["teacher_logits"]}
        if "teacher_probs" in ex:
            row["teacher_probs"] = ex["teacher_probs"] if ex["teacher_probs"] is not None else []
        if "teacher_embeddings" in ex:
            row["teacher_embeddings"] = [e if e is not None else [] for e in ex["teacher_embeddings"]]
        yield row


def features_for(reader: KDReader):
    """The ``datasets.Features`` of the rows :func:`to_hf_dataset` writes."""
    import datasets

    f = {
        "id": datasets.Value("int64"),
        "store": datasets.Value("int32"),
        "input_ids": datasets.Sequence(datasets.Value("int32")),
        "label": datasets.Value("int64"),
        "teacher_logits": datasets.Sequence(datasets.Sequence(datasets.Value("float32"))),
    }
    if reader.temperature is not None:
        f["teacher_probs"] = datasets.Sequence(datasets.Value("float32"))
    if reader.embeddings:
        f["teacher_embeddings"] = datasets.Sequence(datasets.Sequence(datasets.Value("float32")))
    return datasets.Features(f)


def to_hf_dataset(paths, cache_dir: str | None = None, **reader_args):
    """A ``datasets.Dataset`` built with ``Dataset.from_generator`` from a :class:`KDReader`.

    Takes :class:`KDReader`'s arguments. ``label`` is -1 for unlabeled examples;
    ``teacher_probs`` is empty where no teacher has an output. The label names are
    ``KDReader(...).labels`` (class positions in order).
    """
    import datasets

    reader = KDReader(paths, **reader_args)
    return datasets.Dataset.from_generator(_generate, gen_kwargs={"config": reader.config()},
                                           features=features_for(reader), cache_dir=cache_dir)
