#!/usr/bin/env python3
"""Uniform model soup (Wortsman et al. 2022): the element-wise mean of every tensor of several
fine-tuned teacher folders that started from the same weights (kd-train teacher runs that differ
only in --seed), written as a copy of the first folder. Used by the issue 14 benchmarks.
  python3 soup.py OUT FOLDER1 FOLDER2 [...]      (needs: pip install numpy safetensors)
"""
import glob, os, shutil, sys

import numpy as np
from safetensors.numpy import load_file, save_file

out, folders = sys.argv[1], sys.argv[2:]
if len(folders) < 2:
    sys.exit("soup.py: give OUT and at least two folders")
if os.path.exists(out):
    shutil.rmtree(out)
shutil.copytree(folders[0], out)
files = [os.path.relpath(p, folders[0]) for p in glob.glob(os.path.join(folders[0], "**", "*.safetensors"), recursive=True)]
for rel in files:
    tensors = [load_file(os.path.join(f, rel)) for f in folders]
    if any(set(t) != set(tensors[0]) for t in tensors):
        sys.exit(f"soup.py: {rel}: the folders hold different tensors")
    mean = {k: np.mean([t[k] for t in tensors], axis=0).astype(tensors[0][k].dtype) for k in tensors[0]}
    save_file(mean, os.path.join(out, rel))
print(f"soup of {len(folders)} folders ({', '.join(files)}) in {out}")
