"""Text lines of ../shared/corpora, defined identically to the Swift differential test.

Rules (mirrored in Tests/KDTokenizersTests/CorpusLines.swift):
- every regular file under the corpora root, sorted by relative path (byte order),
  except *.gz (the test target does not link zlib);
- *.csv: parsed as RFC 4180; the texts are the fields of the column whose total
  length is largest (the text column), header row excluded;
- other files: split on b"\\n", a trailing b"\\r" dropped, decoded as UTF-8 with
  invalid bytes replaced by U+FFFD; the last line is dropped when empty.
"""
import csv, io, os

def corpus_files(root):
    out = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            rel = os.path.relpath(p, root)
            if rel.endswith(".gz"):
                continue
            out.append(rel)
    return sorted(out, key=lambda r: r.encode())

def csv_texts(data):
    # Swift side parses RFC 4180 itself; Python's csv module matches for these files.
    text = data.decode("utf-8", errors="replace")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return []
    header, body = rows[0], rows[1:]
    width = len(header)
    totals = [0] * width
    for r in body:
        for i in range(min(width, len(r))):
            totals[i] += len(r[i])
    col = max(range(width), key=lambda i: (totals[i], -i))
    return [r[col] if col < len(r) else "" for r in body]

def file_lines(path):
    data = open(path, "rb").read()
    if path.endswith(".csv"):
        return csv_texts(data)
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    return [(p[:-1] if p.endswith(b"\r") else p).decode("utf-8", errors="replace") for p in parts]

def corpus_lines(root):
    """Yields (relative path, list of texts)."""
    for rel in corpus_files(root):
        yield rel, file_lines(os.path.join(root, rel))
