"""``roma coarsen``: end to end on small graphs, and its errors."""
import pytest

from roma_core.cli import main
from roma_core.graphs import Graph, hyperbolic_graph
from roma_core.renorm import Hierarchy


@pytest.fixture(scope="module")
def graph_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("coarsen") / "g.npz"
    hyperbolic_graph(500, mean_degree=8, seed=11).save(path)
    return path


def test_geometric_cli(graph_file, tmp_path, capsys):
    out = tmp_path / "h.npz"
    assert main(["coarsen", "geometric", "--graph", str(graph_file), "--levels", "3", "--block", "3",
                 "--out", str(out)]) == 0
    h = Hierarchy.load(out)
    assert h.sizes == [500, 167, 56, 19] and h.spec["block"] == 3
    assert "wrote" in capsys.readouterr().err
    assert main(["info", str(out)]) in (0, None)
    assert "3 coarsening level(s)" in capsys.readouterr().out


def test_laplacian_cli_into_zarr(graph_file, tmp_path):
    out = tmp_path / "t.zarr"
    assert main(["coarsen", "laplacian", "--graph", str(graph_file), "--levels", "2", "--tau", "0.4",
                 "--out", str(out), "--name", "lrg", "--quiet"]) == 0
    h = Hierarchy.load(out, name="lrg")
    assert h.depth == 2 and h.meta["tau"] == [0.4, 0.4]
    assert h.graphs[0] == Graph.load(graph_file)


@pytest.mark.parametrize("argv, message", [
    (["geometric", "--levels", "0"], "levels must be"),
    (["geometric", "--block", "1"], "block must be"),
    (["laplacian", "--tau", "-2"], "tau must be"),
    (["geometric", "--tau", "1"], "belong to the Laplacian RG"),
])
def test_cli_errors(graph_file, tmp_path, capsys, argv, message):
    code = main(["coarsen", argv[0], "--graph", str(graph_file), "--out", str(tmp_path / "x.npz"), *argv[1:]])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["coarsen", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--reduction" in text and "--block" in text and "examples" in text
