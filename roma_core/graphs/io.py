"""Edge-list readers: CSV/TSV/whitespace text and Parquet.

Node ids in a file may be any non-negative integers. With ``relabel="auto"`` (the default)
they are **kept** as node ids when they are dense (at least half of ``0..max_id`` occur;
the ids that never occur become isolated nodes), and otherwise **relabelled** to
``0..n-1`` in increasing order of the original id. ``read_edgelist(..., return_ids=True)``
also returns ``ids`` with ``ids[node] = original id``, whichever way was taken.

Text files are parsed by pandas' C parser; if it fails, or a value is invalid, the file
is re-scanned line by line so that the error names the first bad line (1-based, as an
editor shows it) instead of surfacing a pandas traceback.
"""
from __future__ import annotations

import gzip
import math
import re
from pathlib import Path

import numpy as np

from ..errors import FileFormatError, GraphError
from ..progress import ProgressCallback, report
from .graph import Graph

PARQUET_SUFFIXES = (".parquet", ".pq")
CHUNK_ROWS = 2_000_000
_INT = re.compile(r"\s*\+?\d+\s*\Z")
_DELIMITERS = {",": "comma", "\t": "tab", ";": "semicolon", None: "whitespace"}


def read_edgelist(path, *, delimiter: str | None = None, header: bool | None = None,
                  weighted: bool | None = None, directed: bool = False, relabel: str = "auto",
                  progress: ProgressCallback | None = None, return_ids: bool = False):
    """Read an edge list into a :class:`Graph`.

    Text (``.csv``, ``.tsv``, ``.txt``, ... optionally ``.gz``): one edge per line,
    ``src dst [weight]``; the delimiter (comma, tab, semicolon or whitespace) is sniffed
    from the first data line unless given; ``#`` starts a comment; the first data line is
    taken as a header when its first field is not a number (or as ``header`` says).
    Parquet: columns ``src``, ``dst`` (and ``weight``) when so named, otherwise the first
    two (three) columns. ``weighted=None`` uses a third column when there is one.
    Undirected by default (symmetrised; self-loops and duplicate edges dropped, counted
    in ``meta``).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    delimiter : str, optional
        Field separator of a text file; sniffed when None (whitespace when
        none of comma, tab or semicolon).
    header : bool, optional
        Whether the first data line is a header; guessed when None.
    weighted : bool, optional
        Read a third column as weights; None: when there is one.
    directed : bool
        Keep edges as given instead of symmetrising them.
    relabel : {"auto", "always", "never"}
        Keep the file's integer ids as node ids, or relabel them ``0..n-1`` (see the
        module's description of ``"auto"``).
    progress : callable, optional
        ``progress(done, total)``, called as the work advances; it may raise
        :class:`~roma_core.errors.Cancelled` to stop.
    return_ids : bool
        Also return the original id of every node.

    Returns
    -------
    graph : Graph
        With the source file, its format and dropped rows counted in ``meta``.
    ids : numpy.ndarray
        Only with ``return_ids``: ``ids[node]`` is the node's id in the file.

    Raises
    ------
    roma_core.errors.FileFormatError
        For a missing or malformed file, naming the file and the line (row for Parquet).
    roma_core.errors.GraphError
        For an unknown ``relabel``.
    """
    path = Path(path)
    if relabel not in ("auto", "always", "never"):
        raise GraphError(f"relabel must be 'auto', 'always' or 'never', got {relabel!r}")
    if not path.is_file():
        raise FileFormatError(f"{path}: no such file")
    if _is_parquet(path):
        src, dst, w, fmt = (*_read_parquet(path, weighted, progress), "parquet")
    else:
        src, dst, w, fmt = _read_text(path, delimiter, header, weighted, progress)
    ids, src, dst, relabelled = _node_ids(path, src, dst, relabel)
    graph = Graph.from_edges(src, dst, len(ids), w, directed=directed)
    loops = int(np.count_nonzero(src == dst))
    graph.meta = {"source": path.name, "format": fmt, "rows": int(len(src)), "relabelled": relabelled,
                  "self_loops_dropped": loops, "duplicates_dropped": int(len(src) - loops - graph.num_edges)}
    return (graph, ids) if return_ids else graph


# ------------------------------------------------------------------ node ids
def _node_ids(path, src, dst, relabel):
    """Keep ids when dense (or asked), else relabel in increasing order."""
    if len(src) == 0:
        return np.zeros(0, dtype=np.int64), src, dst, False
    top = int(max(src.max(), dst.max())) + 1
    keep = relabel == "never"
    if relabel == "auto" and top <= 4 * len(src) + 16:  # cheap bound before counting
        present = np.zeros(top, dtype=bool)
        present[src] = True
        present[dst] = True
        keep = 2 * int(np.count_nonzero(present)) >= top
    if keep:
        if top > np.iinfo(np.int32).max:
            raise FileFormatError(f"{path}: node id {top - 1} is too large to keep as a node id "
                                  f"(limit {np.iinfo(np.int32).max - 1}); use relabel='always'")
        return np.arange(top, dtype=np.int64), src, dst, False
    ids, inverse = np.unique(np.concatenate([src, dst]), return_inverse=True)
    return ids, inverse[:len(src)], inverse[len(src):], True


# ------------------------------------------------------------------ text
def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", errors="replace", newline="")
    return open(path, "r", encoding="utf-8-sig", errors="replace", newline="")


def _data_lines(path: Path):
    """Yield ``(line_number, text_without_comment)`` for every non-blank, non-comment line."""
    with _open_text(path) as fh:
        for number, line in enumerate(fh, start=1):
            text = line.split("#", 1)[0].strip()
            if text:
                yield number, text


def _split(text: str, delimiter):
    return text.split() if delimiter is None else [f.strip() for f in text.split(delimiter)]


def _sniff(text: str, path: Path):
    for d in (",", "\t", ";"):
        if d in text:
            return d
    if path.suffix.lower() == ".csv" and " " not in text and "\t" not in text:
        return ","
    return None


def _read_text(path, delimiter, header, weighted, progress):
    lines = _data_lines(path)
    first = next(lines, None)
    if first is None:
        raise FileFormatError(f"{path}: line 1: no edges found (the file is empty or holds only comments); "
                              "give one edge per line as 'src,dst[,weight]'")
    if delimiter is None:
        delimiter = _sniff(first[1], path)
    elif delimiter in ("whitespace", " ", r"\s+"):
        delimiter = None
    fields = _split(first[1], delimiter)
    if header is None:  # a header names its columns: its first field is not a number
        header = not _looks_numeric(fields[0])
    skip = 0
    if header:
        skip = first[0]
        first = next(lines, None)
        if first is None:
            raise FileFormatError(f"{path}: line {skip + 1}: no edges found after the header line {skip}")
        fields = _split(first[1], delimiter)
    lines.close()
    ncols = len(fields)
    if ncols not in (2, 3):
        raise FileFormatError(f"{path}: line {first[0]}: expected 2 or 3 columns (src, dst[, weight]) "
                              f"separated by {_DELIMITERS.get(delimiter, repr(delimiter))}, found {ncols}: "
                              f"{first[1][:80]!r}")
    if weighted and ncols == 2:
        raise FileFormatError(f"{path}: line {first[0]}: a weight column was asked for but rows have only "
                              "2 columns (src, dst)")
    use_weights = ncols == 3 if weighted is None else bool(weighted)
    try:
        src, dst, w = _fast_parse(path, delimiter, skip, ncols, use_weights, progress)
    except (ValueError, OverflowError, IndexError, LookupError) as exc:
        problem = _scan(path, delimiter, skip, ncols, use_weights)
        if problem is not None:
            raise FileFormatError(problem) from None
        raise FileFormatError(f"{path}: could not be read as an edge list ({type(exc).__name__}: {exc})") from None
    fmt = {",": "csv", "\t": "tsv"}.get(delimiter, "text")
    return src, dst, w, fmt


def _looks_numeric(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


class _Invalid(ValueError):
    """A value pandas accepted but an edge list may not hold; the scanner finds the line."""


def _fast_parse(path, delimiter, skip, ncols, use_weights, progress):
    import pandas as pd

    size = max(path.stat().st_size, 1)
    raw = open(path, "rb")
    try:
        handle = gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        reader = pd.read_csv(handle, sep=r"\s+" if delimiter is None else delimiter, header=None,
                             names=list(range(ncols)), comment="#", skiprows=skip, skip_blank_lines=True,
                             dtype={0: "int64", 1: "int64", 2: "float64" if use_weights else "object"},
                             skipinitialspace=True, encoding="utf-8-sig", engine="c", chunksize=CHUNK_ROWS)
        srcs, dsts, ws = [], [], []
        with reader:
            for chunk in reader:
                s = chunk[0].to_numpy(dtype=np.int64)
                d = chunk[1].to_numpy(dtype=np.int64)
                if len(s) and min(s.min(), d.min()) < 0:
                    raise _Invalid("negative node id")
                srcs.append(s)
                dsts.append(d)
                if use_weights:
                    w = chunk[2].to_numpy(dtype=np.float64)
                    if not np.all(np.isfinite(w)) or np.any(w < 0):
                        raise _Invalid("bad weight")
                    ws.append(w)
                report(progress, raw.tell(), size)
    finally:
        raw.close()
    if not srcs:
        raise _Invalid("no rows")
    report(progress, size, size)
    return (np.concatenate(srcs), np.concatenate(dsts), np.concatenate(ws) if use_weights else None)


def _scan(path, delimiter, skip, ncols, use_weights) -> str | None:
    """Find the first malformed line; return the error message, or None if all are fine."""
    sep = _DELIMITERS.get(delimiter, repr(delimiter))
    rows = 0
    for number, text in _data_lines(path):
        if number <= skip:
            continue
        rows += 1
        fields = _split(text, delimiter)
        where = f"{path}: line {number}"
        if len(fields) != ncols:
            return (f"{where}: expected {ncols} fields separated by {sep} (as on the first data line), "
                    f"found {len(fields)}: {text[:80]!r}")
        for name, token in zip(("source", "target"), fields[:2]):
            if not _INT.match(token):
                what = "negative" if token.startswith("-") and _INT.match(token[1:]) else "not an integer"
                return f"{where}: {name} node id {token!r} is {what}; node ids must be integers >= 0"
            if int(token) > np.iinfo(np.int64).max:
                return f"{where}: {name} node id {token} does not fit in 64 bits"
        if use_weights:
            try:
                value = float(fields[2])
            except ValueError:
                return f"{where}: weight {fields[2]!r} is not a number"
            if math.isnan(value) or math.isinf(value) or value < 0:
                return f"{where}: weight {fields[2]!r} is invalid; weights must be finite and >= 0"
    if rows == 0:
        return f"{path}: line {skip + 1}: no edges found after the header"
    return None


# ------------------------------------------------------------------ parquet
def _is_parquet(path: Path) -> bool:
    if path.suffix.lower() in PARQUET_SUFFIXES:
        return True
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _read_parquet(path, weighted, progress):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise FileFormatError(f"{path}: not a readable Parquet file ({exc})") from None
    names = pf.schema_arrow.names
    if "src" in names and "dst" in names:
        cols = ["src", "dst"] + (["weight"] if "weight" in names and weighted is not False else [])
    elif len(names) in (2, 3):
        cols = names[:2] + (names[2:] if weighted is not False else [])
    else:
        raise FileFormatError(f"{path}: expected columns 'src', 'dst'[, 'weight'] or exactly 2-3 columns, "
                              f"found {len(names)}: {names}")
    if weighted and len(cols) < 3:
        raise FileFormatError(f"{path}: a weight column was asked for but there is none (columns {names})")
    total = max(pf.metadata.num_rows, 1)
    parts = {c: [] for c in cols}
    done = 0
    try:
        for batch in pf.iter_batches(columns=cols, batch_size=CHUNK_ROWS):
            for c, kind in zip(cols, ("id", "id", "weight")):
                parts[c].append(_parquet_column(path, c, batch.column(c), kind, done))
            done += batch.num_rows
            report(progress, done, total)
    except pa.ArrowException as exc:
        raise FileFormatError(f"{path}: could not be read ({exc})") from None
    if done == 0:
        raise FileFormatError(f"{path}: row 1: no edges found (the table is empty)")
    out = [np.concatenate(parts[c]) for c in cols]
    return out[0], out[1], out[2] if len(cols) == 3 else None


def _parquet_column(path, name, column, kind, offset):
    import pyarrow as pa

    def fail(i, what):
        raise FileFormatError(f"{path}: row {offset + int(i) + 1}: column {name!r}: {what}")

    if column.null_count:
        fail(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0], "missing value")
    t = column.type
    if not (pa.types.is_integer(t) or pa.types.is_floating(t)):
        raise FileFormatError(f"{path}: column {name!r} has type {t}; "
                              f"{'node ids must be integers' if kind == 'id' else 'weights must be numbers'}")
    values = column.to_numpy(zero_copy_only=False)
    if kind == "weight":
        values = values.astype(np.float64)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            fail(np.flatnonzero(bad)[0], f"weight {values[bad][0]} is invalid; weights must be finite and >= 0")
        return values
    if pa.types.is_floating(t):
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            fail(np.flatnonzero(bad)[0], f"node id {values[bad][0]} is not an integer")
    if pa.types.is_unsigned_integer(t) and len(values) and values.max() > np.iinfo(np.int64).max:
        fail(np.argmax(values), "node id does not fit in 64 bits")
    values = values.astype(np.int64)
    if len(values) and values.min() < 0:
        fail(np.flatnonzero(values < 0)[0], f"node id {values.min()} is negative; node ids must be >= 0")
    return values
