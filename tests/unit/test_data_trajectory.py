"""Trajectory stores: zarr layout, atomic writes, streaming, netCDF export, describe."""
import json

import numpy as np
import pytest
import torch
import zarr

from roma_core.data import describe, export_netcdf, open_trajectory, save_trajectory, trajectory_graph
from roma_core.dynamics import Kuramoto, SocialBurgers, simulate
from roma_core.errors import Cancelled, FileFormatError, StoreError
from roma_core.graphs import Graph


def test_streamed_store_equals_memory_run(small_graph, tmp_path):
    spec = Kuramoto(coupling=3.0)
    mem = simulate(spec, small_graph, 0.3, 0.01, 3, dtype=torch.float64)
    out = tmp_path / "run.zarr"
    ds = simulate(spec, small_graph, 0.3, 0.01, 3, dtype=torch.float64, out=out, chunks=(4, 512))
    assert ds["state"].encoding["chunks"] == (4, 512)                 # chunked over time and node
    for name in ("state", "omega", "initial", "order_parameter", "coupling"):
        np.testing.assert_array_equal(ds[name].values, mem[name].values)
    assert Graph.load(out) == small_graph                             # the graph travels with the data
    assert trajectory_graph(out) == small_graph
    root = zarr.open_group(str(out), mode="r")
    assert root.attrs["roma_kind"] == "trajectory" and root["graph"].attrs["roma_kind"] == "graph"
    a = ds.attrs
    assert a["dynamics"] == "kuramoto" and a["integrator"] == "rk4" and a["dtype"] == "float64"
    assert a["device"] == "cpu" and a["graph_fingerprint"] == small_graph.fingerprint()
    assert json.loads(a["spec"])["coupling"] == 3.0 and json.loads(a["simulation"])["method"] == "rk4"
    assert [p.name for p in tmp_path.iterdir()] == ["run.zarr"]     # no temporary left behind


def test_cancelled_run_leaves_nothing(small_graph, tmp_path):
    def stop(done, total):
        if done > 5:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        simulate(Kuramoto(), small_graph, 1.0, 0.01, 1, out=tmp_path / "run.zarr", progress=stop)
    assert list(tmp_path.iterdir()) == []


def test_progress_is_reported(small_graph):
    seen = []
    simulate(Kuramoto(), small_graph, 0.1, 0.01, 1, progress=lambda d, t: seen.append((d, t)))
    assert seen[0] == (0, 10) and seen[-1] == (10, 10)


def test_save_open_and_overwrite(small_graph, tmp_path):
    ds = simulate(SocialBurgers(), small_graph, 0.002, 1e-4, 5)
    path = save_trajectory(ds, tmp_path / "b.zarr", graph=small_graph)
    back = open_trajectory(path)
    np.testing.assert_array_equal(back["state"].values, ds["state"].values)
    np.testing.assert_array_equal(back["mass"].values, ds["mass"].values)
    assert Graph.load(path) == small_graph
    with pytest.raises(StoreError, match="exists"):
        save_trajectory(ds, path)
    save_trajectory(ds.isel(time=slice(0, 2)), path, overwrite=True)
    assert open_trajectory(path).sizes["time"] == 2
    with pytest.raises(StoreError, match="not a ROMA trajectory"):
        save_trajectory(ds.drop_vars("state"), tmp_path / "c.zarr")


def test_open_refuses_other_stores(small_graph, tmp_path):
    small_graph.save(tmp_path / "g.zarr")
    with pytest.raises(FileFormatError, match="not a ROMA trajectory"):
        open_trajectory(tmp_path / "g.zarr")
    with pytest.raises(StoreError, match="no such"):
        open_trajectory(tmp_path / "missing.zarr")


def test_netcdf_export(small_graph, tmp_path):
    out = tmp_path / "run.zarr"
    simulate(Kuramoto(), small_graph, 0.05, 0.01, 1, out=out)
    nc = export_netcdf(out, tmp_path / "run.nc")
    back = open_trajectory(nc)
    np.testing.assert_array_equal(back["state"].values, open_trajectory(out)["state"].values)
    assert trajectory_graph(nc) == small_graph
    with pytest.raises(StoreError, match="exists"):
        export_netcdf(out, nc)
    with pytest.raises(StoreError, match="small runs"):
        export_netcdf(out, tmp_path / "big.nc", max_bytes=10)


def test_describe(small_graph, tmp_path):
    out = tmp_path / "run.zarr"
    simulate(Kuramoto(), small_graph, 0.05, 0.01, 1, out=out)
    text = describe(out)
    assert "kuramoto" in text and "nodes 2,000" in text and "frames 6" in text
    assert small_graph.fingerprint() in text and "order_parameter" in text
    from roma_core.cli.info import describe as info
    assert info(out) == text
