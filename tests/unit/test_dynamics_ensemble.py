"""Ensembles on Dask and the Euler–Maruyama noise: phase variance σ² t over members."""
import numpy as np
import pytest
import torch
from dask.distributed import Client, LocalCluster

from roma_core.dynamics import Kuramoto, simulate, simulate_ensemble
from roma_core.graphs import hyperbolic_graph


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def graph():
    return hyperbolic_graph(100, mean_degree=6, seed=4)


def test_euler_maruyama_variance_grows_as_sigma2_t(client, graph, tmp_path):
    sigma = 0.7
    spec = Kuramoto(coupling=0.0, schedule="constant", noise=sigma)
    ds = simulate_ensemble(spec, graph, t_end=2.0, dt=0.01, save_every=50, members=200, client=client,
                           dtype=torch.float64, out=tmp_path / "ens.zarr")
    assert ds["state"].dims == ("member", "time", "node") and ds.sizes["member"] == 200
    assert ds.attrs["integrator"] == "euler_maruyama"
    t = ds["time"].values
    # remove the deterministic part θ(0) + ω t of every member, then the variance over members
    drift = ds["initial"].values[:, None, :] + ds["omega"].values[:, None, :] * t[None, :, None]
    resid = ds["state"].values - drift
    var = resid.var(axis=0, ddof=1).mean(axis=-1)
    np.testing.assert_allclose(var[1:], sigma ** 2 * t[1:], rtol=0.10)
    assert var[0] == 0


def test_members_are_the_single_runs(client, graph):
    spec = Kuramoto(coupling=2.0, noise=0.2)
    ens = simulate_ensemble(spec, graph, t_end=0.2, dt=0.01, save_every=5, members=3, seed=10, client=client)
    assert list(ens["member_seed"].values) == [10, 11, 12]
    for m in range(3):
        one = simulate(spec, graph, 0.2, 0.01, 5, seed=10 + m)
        np.testing.assert_array_equal(ens["state"].values[m], one["state"].values)
        np.testing.assert_array_equal(ens["omega"].values[m], one["omega"].values)
    np.testing.assert_array_equal(ens["coupling"].values, one["coupling"].values)
