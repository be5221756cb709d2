"""``roma simulate``: options documented, runs written, errors reported."""
import numpy as np
import pytest

from roma_core.cli import build_parser, main
from roma_core.data import open_trajectory
from roma_core.graphs import Graph


def test_help_documents_every_option(capsys):
    for dyn, flags in (("kuramoto", ["--coupling", "--schedule", "--mod-a", "--mod-period", "--alpha",
                                     "--omega-dist", "--omega-clip", "--initial", "--initial-spread"]),
                       ("burgers", ["--advection", "--viscosity", "--gap-floor", "--sources", "--source-width"])):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["simulate", dyn, "--help"])
        text = capsys.readouterr().out
        for flag in flags + ["--graph", "--nodes", "--mean-degree", "--graph-seed", "--t-end", "--dt",
                             "--save-every", "--noise", "--seed", "--device", "--dtype", "--method", "--members",
                             "--scheduler", "--out", "--overwrite"]:
            assert flag in text, (dyn, flag)


def test_generated_graph_run(tmp_path, capsys):
    out = tmp_path / "run.zarr"
    rc = main(["simulate", "kuramoto", "--nodes", "300", "--mean-degree", "6", "--t-end", "0.1", "--dt", "0.01",
               "--save-every", "5", "--noise", "0.1", "--seed", "3", "--out", str(out)])
    assert rc == 0 and "ROMA trajectory (kuramoto)" in capsys.readouterr().out
    ds = open_trajectory(out)
    assert ds.sizes == {"time": 3, "node": 300} and ds.attrs["integrator"] == "euler_maruyama"
    assert ds.attrs["seed"] == 3 and Graph.load(out).num_nodes == 300
    assert main(["simulate", "kuramoto", "--nodes", "300", "--t-end", "0.1", "--dt", "0.01",
                 "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_stored_graph_burgers_run(small_graph, tmp_path):
    path = small_graph.save(tmp_path / "g.npz")
    out = tmp_path / "b.zarr"
    rc = main(["simulate", "burgers", "--graph", str(path), "--viscosity", "1e-6", "--sources", "2",
               "--t-end", "0.01", "--dt", "1e-4", "--save-every", "50", "--dtype", "float64", "--out", str(out)])
    assert rc == 0
    ds = open_trajectory(out)
    assert ds.attrs["dynamics"] == "burgers" and np.count_nonzero(ds["source_amplitude"].values) == 2
    assert main(["simulate", "burgers", "--graph", str(path), "--dt", "0", "--out", str(tmp_path / "x.zarr")]) == 2
    assert main(["simulate", "kuramoto", "--graph", str(path), "--device", "nope",
                 "--out", str(tmp_path / "y.zarr")]) == 2
