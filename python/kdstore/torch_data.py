"""PyTorch adapters (optional: needs ``torch``).

For example::

    from torch.utils.data import DataLoader
    from kdstore.torch_data import KDIterableDataset, torch_collate

    ds = KDIterableDataset("data.sqlite", task="banking77", split="train", temperature=2.0, shuffle=True)
    loader = DataLoader(ds, batch_size=64, num_workers=2, collate_fn=torch_collate)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for batch in loader:
            batch["input_ids"], batch["labels"], batch["teacher_probs"]
"""

from __future__ import annotations

import torch
from torch.utils.data import IterableDataset, get_worker_info

from .collate import collate
from .reader import KDReader


class KDIterableDataset(IterableDataset):
    """A :class:`KDReader` as a PyTorch ``IterableDataset``.

    Each DataLoader worker reads its own shard (blocks of example ids dealt
    round-robin), so with ``num_workers=N`` every example is yielded exactly once
    per epoch. With ``distributed=True`` and ``torch.distributed`` initialised,
    the shards are split across ranks first, then across each rank's workers.
    Every worker opens its own read-only SQLite connections.

    Takes :class:`KDReader`'s arguments.
    """

    def __init__(self, paths, distributed: bool = False, **reader_args):
        super().__init__()
        self.reader = KDReader(paths, **reader_args)
        self.distributed = distributed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Changes the shuffle order of the next pass (with ``shuffle=True``)."""
        self.epoch = epoch

    @property
    def labels(self) -> list[str]:
        return self.reader.labels

    @property
    def vocab_size(self) -> int:
        return self.reader.vocab_size

    def _shard(self) -> tuple[int, int]:
        shard, count = 0, 1
        if self.distributed and torch.distributed.is_available() and torch.distributed.is_initialized():
            shard, count = torch.distributed.get_rank(), torch.distributed.get_world_size()
        info = get_worker_info()
        if info is not None:
            shard, count = shard * info.num_workers + info.id, count * info.num_workers
        return shard, count

    def __iter__(self):
        shard, count = self._shard()
        return self.reader.iter(shard=shard, num_shards=count, epoch=self.epoch)


def torch_collate(examples, pad_id: int = 0, max_length: int | None = None) -> dict:
    """:func:`kdstore.collate` with torch tensors (``input_ids`` and ``labels`` int64)."""
    return {k: torch.from_numpy(v) for k, v in collate(examples, pad_id=pad_id, max_length=max_length).items()}
