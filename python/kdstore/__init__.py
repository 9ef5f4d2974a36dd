"""Read kd's SQLite store from Python: token ids, labels, cached teacher logits and embeddings.

Needs only the standard library and numpy; ``kdstore.torch_data`` (PyTorch
``IterableDataset``) and ``kdstore.hf`` (Hugging Face ``datasets``) are optional.

    from kdstore import KDReader
    for ex in KDReader("data.sqlite", task="banking77", split="train", temperature=2.0):
        ex["input_ids"], ex["label"], ex["teacher_logits"], ex["teacher_probs"]
"""

from .codec import KDStoreError, content_key, decode_logits, label_kept, label_unit_value, softmax
from .collate import collate
from .reader import KDReader, StoreInfo, TeacherInfo, list_tasks
from .schema import SUPPORTED_SCHEMA_VERSIONS, connect, schema_version

__version__ = "0.1.0"

__all__ = [
    "KDReader", "KDStoreError", "StoreInfo", "TeacherInfo", "SUPPORTED_SCHEMA_VERSIONS", "collate", "connect",
    "content_key", "decode_logits", "label_kept", "label_unit_value", "list_tasks", "schema_version", "softmax",
]
