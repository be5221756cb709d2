"""Edge-list readers: good files of every flavour, and malformed files that must name the
file and the 1-based line (row for Parquet) of the first problem."""
import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from roma_core.errors import FileFormatError, GraphError
from roma_core.graphs import Graph, read_edgelist
from roma_core.graphs import io as graph_io


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def _edges(g):
    src, dst, w = g.edges()
    return sorted(zip(src.tolist(), dst.tolist())), (None if w is None else w.tolist())


# ------------------------------------------------------------ good files
@pytest.mark.parametrize("name,text", [
    ("e.csv", "0,1\n1,2\n2,0\n"),
    ("e.tsv", "0\t1\n1\t2\n2\t0\n"),
    ("e.txt", "0 1\n  1    2\n2\t0\n"),
    ("e.edges", "# a comment\n\n0;1\n1;2 # trailing comment\n2;0\n"),
    ("e.csv", "source,target\n0,1\n1, 2\n2 ,0\n"),
    ("e.dat", "0,1\r\n1,2\r\n2,0\r\n"),
    ("bom.csv", "\ufeffsrc,dst\n0,1\n1,2\n2,0\n"),
    ("bom2.csv", "\ufeff0,1\n1,2\n2,0\n"),
])
def test_text_flavours(tmp_path, name, text):
    g = read_edgelist(_write(tmp_path, name, text))
    assert _edges(g) == ([(0, 1), (0, 2), (1, 2)], None)
    assert g.num_nodes == 3 and not g.meta["relabelled"]


def test_weights_header_and_meta(tmp_path):
    path = _write(tmp_path, "w.csv", "# weighted\nsrc,dst,weight\n0,1,0.5\n1,2,2\n1,0,9\n2,2,1\n")
    g = read_edgelist(path)
    assert _edges(g) == ([(0, 1), (1, 2)], [0.5, 2.0])  # the first weight of a repeated edge wins
    assert g.meta == {"source": "w.csv", "format": "csv", "rows": 4, "relabelled": False,
                      "self_loops_dropped": 1, "duplicates_dropped": 1}
    assert read_edgelist(path, weighted=False).weights is None
    assert read_edgelist(path, directed=True).num_edges == 3


def test_explicit_delimiter_and_header(tmp_path):
    path = _write(tmp_path, "e.txt", "1|2\n2|3\n")
    assert _edges(read_edgelist(path, delimiter="|"))[0] == [(1, 2), (2, 3)]
    # header=True drops a numeric first line on request
    assert _edges(read_edgelist(path, delimiter="|", header=True))[0] == [(2, 3)]


def test_gzip(tmp_path):
    path = tmp_path / "e.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("0,1\n1,2\n")
    assert _edges(read_edgelist(path))[0] == [(0, 1), (1, 2)]


def test_round_trip_of_a_generated_graph(tmp_path, small_graph):
    src, dst, _ = small_graph.edges()
    path = tmp_path / "big.tsv"
    np.savetxt(path, np.stack([dst, src], 1), fmt="%d", delimiter="\t", header="u\tv")
    g = read_edgelist(path)
    assert g.fingerprint() == small_graph.fingerprint()


def test_node_ids_kept_when_dense_relabelled_when_sparse(tmp_path):
    dense = read_edgelist(_write(tmp_path, "d.csv", "0,1\n1,3\n"), return_ids=True)
    assert dense[0].num_nodes == 4 and dense[0].degree.tolist() == [1, 2, 0, 1]  # 2 is isolated
    assert dense[1].tolist() == [0, 1, 2, 3]
    g, ids = read_edgelist(_write(tmp_path, "s.csv", "10,5000000000\n5000000000,7\n"), return_ids=True)
    assert g.meta["relabelled"] and ids.tolist() == [7, 10, 5_000_000_000]
    assert _edges(g)[0] == [(0, 2), (1, 2)]
    kept = read_edgelist(_write(tmp_path, "k.csv", "0,9\n"), relabel="never")
    assert kept.num_nodes == 10
    always = read_edgelist(_write(tmp_path, "a.csv", "3,5\n"), relabel="always")
    assert always.num_nodes == 2
    with pytest.raises(FileFormatError, match="too large"):
        read_edgelist(_write(tmp_path, "h.csv", "0,5000000000\n"), relabel="never")
    with pytest.raises(GraphError, match="relabel"):
        read_edgelist(_write(tmp_path, "x.csv", "0,1\n"), relabel="sometimes")


# ------------------------------------------------------------ malformed text
MALFORMED = [
    ("nonint.csv", "0,1\n1,x\n", 2, "not an integer"),
    ("float.csv", "# ids\n0,1\n1.5,2\n", 3, "not an integer"),
    ("negid.tsv", "0\t1\n\n-4\t2\n", 3, "negative"),
    ("ragged_long.csv", "0,1\n1,2\n# c\n1,2,3\n", 4, "expected 2 fields"),
    ("ragged_short.csv", "a,b,w\n0,1,1\n1,2\n", 3, "expected 3 fields"),
    ("ragged_first.txt", "0 1 2 3\n", 1, "expected 2 or 3 columns"),
    ("one_col.csv", "\n\n7\n", 3, "expected 2 or 3 columns"),
    ("empty.csv", "", 1, "no edges"),
    ("comments.csv", "# nothing\n   \n", 1, "no edges"),
    ("header_only.csv", "src,dst\n", 2, "no edges"),
    ("nan.csv", "0,1,1.0\n1,2,nan\n", 2, "weight 'nan'"),
    ("neg_weight.csv", "0,1,1.0\n1,2,-0.1\n", 2, "weight '-0.1'"),
    ("inf_weight.csv", "0,1,inf\n", 1, "weight 'inf'"),
    ("text_weight.csv", "0,1,1\n1,2,heavy\n", 2, "not a number"),
    ("empty_field.csv", "0,1,\n", 1, "not a number"),
    ("huge.csv", "0,1\n99999999999999999999,2\n", 2, "64 bits"),
]


@pytest.mark.parametrize("name,text,line,what", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_text_names_file_and_line(tmp_path, name, text, line, what):
    path = _write(tmp_path, name, text)
    with pytest.raises(FileFormatError) as err:
        read_edgelist(path)
    message = str(err.value)
    assert message.startswith(f"{path}: line {line}:"), message
    assert what in message
    assert "Traceback" not in message and "pandas" not in message


def test_error_past_the_first_chunk(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_io, "CHUNK_ROWS", 7)
    lines = [f"{i},{i + 1}" for i in range(60)]
    lines[41] = "41,oops"
    path = _write(tmp_path, "long.csv", "# header comment\n" + "\n".join(lines) + "\n")
    with pytest.raises(FileFormatError, match=r"long.csv: line 43: target node id 'oops'"):
        read_edgelist(path)
    lines[41] = "41,42"
    assert read_edgelist(_write(tmp_path, "ok.csv", "\n".join(lines))).num_edges == 60


def test_weighted_requested_without_weight_column(tmp_path):
    with pytest.raises(FileFormatError, match="line 1: a weight column was asked for"):
        read_edgelist(_write(tmp_path, "e.csv", "0,1\n"), weighted=True)


def test_missing_file(tmp_path):
    with pytest.raises(FileFormatError, match="no such file"):
        read_edgelist(tmp_path / "absent.csv")


# ------------------------------------------------------------ parquet
def _parquet(tmp_path, name, table):
    path = tmp_path / name
    pq.write_table(table, path)
    return path


def test_parquet_named_and_positional_columns(tmp_path):
    named = pa.table({"weight": [0.5, 2.0], "dst": [1, 2], "src": [0, 1], "extra": ["a", "b"]})
    g = read_edgelist(_parquet(tmp_path, "n.parquet", named))
    assert _edges(g) == ([(0, 1), (1, 2)], [0.5, 2.0]) and g.meta["format"] == "parquet"
    positional = pa.table({"a": pa.array([0, 1], pa.int32()), "b": pa.array([1, 2], pa.uint16())})
    assert _edges(read_edgelist(_parquet(tmp_path, "p.pq", positional))) == ([(0, 1), (1, 2)], None)
    # Parquet recognised by its magic bytes whatever the suffix; integral floats accepted as ids
    floats = pa.table({"u": [0.0, 1.0], "v": [1.0, 2.0], "w": [1.0, 1.0]})
    path = _parquet(tmp_path, "edges.bin", floats)
    assert _edges(read_edgelist(path)) == ([(0, 1), (1, 2)], [1.0, 1.0])


@pytest.mark.parametrize("table,what", [
    (pa.table({"src": [0, 1], "dst": ["1", "2"]}), "column 'dst' has type string"),
    (pa.table({"src": [0, None, 2], "dst": [1, 2, 3]}), "row 2: column 'src': missing value"),
    (pa.table({"src": [0, 1, -2], "dst": [1, 2, 3]}), "row 3: column 'src': node id -2 is negative"),
    (pa.table({"src": [0, 1], "dst": [1.0, 2.5]}), "row 2: column 'dst': node id 2.5 is not an integer"),
    (pa.table({"src": [0, 1], "dst": [1, 2], "weight": [1.0, float("nan")]}), "row 2: column 'weight'"),
    (pa.table({"src": [0, 1], "dst": [1, 2], "weight": [-1.0, 1.0]}), "row 1: column 'weight'"),
    (pa.table({"a": [0], "b": [1], "c": [1.0], "d": [2]}), "found 4"),
    (pa.table({"src": pa.array([], pa.int64()), "dst": pa.array([], pa.int64())}), "row 1: no edges"),
])
def test_malformed_parquet(tmp_path, table, what):
    path = _parquet(tmp_path, "bad.parquet", table)
    with pytest.raises(FileFormatError) as err:
        read_edgelist(path)
    assert str(err.value).startswith(f"{path}:") and what in str(err.value), str(err.value)


def test_not_really_parquet(tmp_path):
    path = _write(tmp_path, "fake.parquet", "0,1\n")
    with pytest.raises(FileFormatError, match="fake.parquet: not a readable Parquet file"):
        read_edgelist(path)


def test_reader_result_is_a_normal_graph(tmp_path):
    g = read_edgelist(_write(tmp_path, "e.csv", "0,1\n1,2\n"))
    assert Graph.load(g.save(tmp_path / "g.npz")) == g


def test_progress_reports_bytes_and_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_io, "CHUNK_ROWS", 100)
    path = _write(tmp_path, "p.csv", "".join(f"{i},{i + 1}\n" for i in range(1000)))
    seen = []
    read_edgelist(path, progress=lambda done, total: seen.append((done, total)))
    assert len(seen) > 2 and seen[-1] == (path.stat().st_size,) * 2
    table = pa.table({"src": list(range(250)), "dst": list(range(1, 251))})
    seen.clear()
    read_edgelist(_parquet(tmp_path, "p.parquet", table), progress=lambda done, total: seen.append((done, total)))
    assert len(seen) == 3 and seen[-1] == (250, 250)
