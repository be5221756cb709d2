"""``roma graph hyperbolic|load|info`` in-process and through the installed console script."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from roma_core.cli import main
from roma_core.graphs import Graph, hyperbolic_graph

ROMA = Path(sys.executable).with_name("roma")


def test_hyperbolic_then_info(tmp_path, capsys):
    out = tmp_path / "g.npz"
    assert main(["graph", "hyperbolic", "--nodes", "3000", "--mean-degree", "6", "--gamma", "2.5",
                 "--beta", "3", "--seed", "5", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    g = Graph.load(out)
    assert g == hyperbolic_graph(3000, mean_degree=6, gamma=2.5, beta=3, seed=5)
    assert g.fingerprint() in said and "3000 nodes" in said
    assert main(["graph", "info", str(out)]) == 0
    info = capsys.readouterr().out
    k = g.degree
    for text in (f"{g.num_edges:,}", f"min {k.min()}", f"mean {k.mean():.3f}", f"max {k.max()}",
                 "theta, kappa, radius", g.fingerprint(), "components"):
        assert text in info, (text, info)


def test_zero_temperature_largest_component_to_zarr(tmp_path, capsys):
    out = tmp_path / "h2.zarr"
    assert main(["graph", "hyperbolic", "--nodes", "5000", "--mean-degree", "3", "--gamma", "3",
                 "--beta", "inf", "--largest-component", "--out", str(out)]) == 0
    g = Graph.load(out)
    assert g.components()[0] == 1 and g.meta["spec"]["beta"] == float("inf")
    assert g == hyperbolic_graph(5000, mean_degree=3, gamma=3, beta=float("inf"), largest_component=True)


def test_load_then_info(tmp_path, capsys):
    edges = tmp_path / "edges.csv"
    edges.write_text("# test\nsrc,dst,weight\n10,20,1.5\n20,30,2\n30,10,1\n10,10,3\n")
    out, ids = tmp_path / "g.npz", tmp_path / "ids.npy"
    assert main(["graph", "load", str(edges), "--out", str(out), "--ids-out", str(ids)]) == 0
    said = capsys.readouterr().out
    assert "3 nodes, 3 edges from 4 rows (1 self-loops" in said and "relabelled" in said
    assert np.load(ids).tolist() == [10, 20, 30]
    g = Graph.load(out)
    assert g.weights is not None and g.num_edges == 3
    assert main(["graph", "load", str(edges), "--out", str(out), "--no-weighted", "--directed"]) == 0
    assert Graph.load(out).weights is None and Graph.load(out).directed


@pytest.mark.parametrize("argv,what", [
    (["graph", "hyperbolic", "--nodes", "1", "--out", "{tmp}/g.npz"], "at least 2 nodes"),
    (["graph", "hyperbolic", "--nodes", "100", "--gamma", "1.5", "--out", "{tmp}/g.npz"], "gamma must be > 2"),
    (["graph", "hyperbolic", "--nodes", "100", "--out", "{tmp}/g.txt"], "must end in .npz or .zarr"),
    (["graph", "hyperbolic", "--nodes", "100", "--out", "{tmp}/no/dir/g.npz"], "does not exist"),
    (["graph", "load", "{tmp}/bad.csv", "--out", "{tmp}/g.npz"], "bad.csv: line 3: target node id 'x'"),
    (["graph", "load", "{tmp}/absent.csv", "--out", "{tmp}/g.npz"], "no such file"),
    (["graph", "info", "{tmp}/bad.csv"], "bad.csv"),
])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, argv, what):
    (tmp_path / "bad.csv").write_text("0,1\n1,2\n2,x\n")
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("roma graph: error:") and what in err and "\n" not in err, err
    assert not (tmp_path / "g.npz").exists()


def test_help_documents_every_option(capsys):
    for action, options in [("hyperbolic", ["--nodes", "--mean-degree", "--gamma", "--beta", "--seed",
                                            "--largest-component", "--out"]),
                            ("load", ["--delimiter", "--header", "--weighted", "--directed", "--relabel",
                                      "--ids-out", "--out"]),
                            ("info", ["path"])]:
        with pytest.raises(SystemExit) as done:
            main(["graph", action, "--help"])
        assert done.value.code == 0
        text = capsys.readouterr().out
        for option in options:
            assert option in text, (action, option)
        assert "default" in text or action == "info"


def test_console_script(tmp_path):
    assert ROMA.exists(), f"the roma console script is not installed beside {sys.executable}"
    out = tmp_path / "g.npz"
    run = subprocess.run([str(ROMA), "graph", "hyperbolic", "--nodes", "2000", "--beta", "2.5", "--seed", "1",
                          "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    fp = hyperbolic_graph(2000, beta=2.5, seed=1).fingerprint()
    assert fp in run.stdout
    info = subprocess.run([str(ROMA), "graph", "info", str(out)], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0 and fp in info.stdout and "2,000" in info.stdout
    bad = subprocess.run([str(ROMA), "graph", "hyperbolic", "--nodes", "10", "--mean-degree", "20",
                          "--out", str(tmp_path / "x.npz")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "mean_degree" in bad.stderr
    assert "Traceback" not in bad.stderr
