"""Bad input raises a RomaError subclass that says what was wrong."""
import math

import numpy as np
import pytest
import torch

from roma_core.dynamics import Kuramoto, SocialBurgers, simulate, simulate_ensemble
from roma_core.errors import DeviceError, RomaError, SimulationError, SpecError, StoreError
from roma_core.graphs import Graph


@pytest.mark.parametrize("kw, match", [
    (dict(dt=0.0), "dt"), (dict(dt=-0.1), "dt"), (dict(dt=math.nan), "dt"),
    (dict(t_end=0.005), "t_end"), (dict(save_every=0), "save_every"), (dict(save_every=1.5), "save_every"),
    (dict(dtype=torch.int32), "dtype"),
])
def test_bad_settings(small_graph, kw, match):
    args = dict(t_end=0.1, dt=0.01, save_every=1) | kw
    with pytest.raises(SpecError, match=match):
        simulate(Kuramoto(), small_graph, **args)


@pytest.mark.parametrize("spec, match", [
    (Kuramoto(coupling=math.nan), "coupling"), (Kuramoto(alpha=math.nan), "alpha"),
    (Kuramoto(noise=-1.0), "noise"), (Kuramoto(omega_clip=0.0), "omega_clip"),
    (Kuramoto(coupling=math.inf), "coupling"), (SocialBurgers(viscosity=math.nan), "viscosity"),
    (SocialBurgers(source_width=0.0), "source_width"),
])
def test_bad_parameters(small_graph, spec, match):
    with pytest.raises(SpecError, match=match):
        simulate(spec, small_graph, 0.1, 0.01, 1)


def test_graph_without_edges():
    empty = Graph(np.zeros(11, dtype=np.int64), np.zeros(0, dtype=np.int32), theta=np.linspace(0, 6, 10))
    with pytest.raises(SimulationError, match="no edges"):
        simulate(Kuramoto(coupling=1.0), empty, 0.1, 0.01, 1)
    with pytest.raises(SimulationError, match="no edges"):
        simulate(SocialBurgers(), empty, 0.1, 0.01, 1)
    ds = simulate(Kuramoto(coupling=0.0, schedule="constant"), empty, 0.1, 0.01, 1)  # nothing couples: fine
    assert ds.sizes["node"] == 10


def test_existing_store(small_graph, tmp_path):
    out = tmp_path / "run.zarr"
    simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, out=out)
    with pytest.raises(StoreError, match="exists"):
        simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, out=out)
    ds = simulate(Kuramoto(), small_graph, 0.03, 0.01, 1, out=out, overwrite=True)
    assert ds.sizes["time"] == 4
    with pytest.raises(StoreError, match="exists"):
        simulate_ensemble(Kuramoto(), small_graph, 0.02, 0.01, 1, members=2, out=out)


def test_devices(small_graph):
    with pytest.raises(DeviceError, match="device"):
        simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA"):
            simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, device="cuda")
    else:
        with pytest.raises(DeviceError):
            simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, device=f"cuda:{torch.cuda.device_count()}")


def test_other_bad_input(small_graph):
    with pytest.raises(SimulationError, match="euler_maruyama"):
        simulate(Kuramoto(noise=0.1), small_graph, 0.02, 0.01, 1, method="rk4")
    with pytest.raises(SimulationError, match="one value per node"):
        simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, inputs={"omega": np.zeros(3)})
    with pytest.raises(SimulationError, match="NaN"):
        simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, inputs={"omega": np.full(small_graph.num_nodes, np.nan)})
    with pytest.raises(SpecError, match="dynamics"):
        simulate("heat", small_graph, 0.02, 0.01, 1)
    with pytest.raises(SimulationError, match="Graph"):
        simulate(Kuramoto(), "g.npz", 0.02, 0.01, 1)
    with pytest.raises(SpecError, match="members"):
        simulate_ensemble(Kuramoto(), small_graph, 0.02, 0.01, 1, members=0)


def test_blow_up_is_reported(small_graph):
    # ω near the float32 limit: θ = ω t overflows to inf by t = 4 and the run stops with advice
    huge = np.full(small_graph.num_nodes, 1e38)
    with pytest.raises(SimulationError, match="reduce dt"):
        simulate(Kuramoto(coupling=0.0, schedule="constant"), small_graph, 4.0, 0.5, 1,
                 inputs={"omega": huge}, dtype=torch.float32)


def test_all_are_roma_errors():
    for cls in (SpecError, SimulationError, StoreError, DeviceError):
        assert issubclass(cls, RomaError)
