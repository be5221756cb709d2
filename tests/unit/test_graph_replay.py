"""RK4 steps replayed as a CUDA graph (``integrate.GraphedRK4``) against the uncaptured
triton loop, bit for bit: on a GPU when one is present; without one, the same loop with
the capture replaced by calling the steps again (Triton's interpreter), and the fallback."""
import importlib

import numpy as np
import pytest
import torch

from roma_core.dynamics import triton_kernels as tk
from roma_core.dynamics.integrate import GraphedRK4
from roma_core.dynamics.systems import KuramotoSystem, System, sender_weights
from roma_core.graphs import hyperbolic_graph
from roma_core.specs import BurgersSpec, KuramotoSpec

needs_triton = pytest.mark.skipif(not tk.available(), reason="triton is not installed (pip install triton)")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device: CUDA graphs need a GPU")
CPU = torch.device("cpu")
sim_mod = importlib.import_module("roma_core.dynamics.simulate")    # the package exports the function
KURAMOTO = KuramotoSpec(coupling=4.0)             # modulated K(t): a new value every stage
BURGERS = BurgersSpec(sources=0, initial="random", advection=2.0)


class Replayed(GraphedRK4):
    """The capture replaced by running the same steps again (no CUDA needed)."""

    def _capture(self):
        self._steps(1)
        return lambda: self._steps(self.steps)


def runs(monkeypatch, dynamics, graph, device, **kw):
    """The same run without and with graphs; the number of graphs built."""
    built = []
    real = sim_mod.GraphedRK4

    def spy(*args):
        built.append(real(*args))
        return built[-1]

    monkeypatch.setattr(sim_mod, "GraphedRK4", spy)
    monkeypatch.setattr(sim_mod, "CUDA_GRAPHS", False)
    plain = sim_mod.simulate(dynamics, graph, device=device, backend="triton", **kw)
    monkeypatch.setattr(sim_mod, "CUDA_GRAPHS", True)
    graphed = sim_mod.simulate(dynamics, graph, device=device, backend="triton", **kw)
    return plain, graphed, built


def same(a, b):
    """Bit for bit in float32. In float64 Kuramoto runs on an H200 (triton 3.6) the two
    differed by 5.5e-10 after 50 steps, as if K passed by value reached the kernel rounded
    to float32 (the graphs read it in float64 from memory): there, to 1e-8 of the largest value."""
    obs = "order_parameter" if "order_parameter" in a else "mass"
    for name in ("state", obs):
        x, y = a[name].values, b[name].values
        if a.state.dtype == np.float32:
            np.testing.assert_array_equal(x, y)
        else:
            np.testing.assert_allclose(x, y, rtol=0, atol=1e-8 * max(1.0, np.abs(y).max()))


@needs_triton
@pytest.mark.parametrize("device", [pytest.param(CPU, id="cpu"),
                                    pytest.param(torch.device("cuda"), id="cuda", marks=needs_cuda)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_coupling_read_from_the_device_is_bit_identical(dtype, device):
    g = hyperbolic_graph(400, mean_degree=6, seed=5)
    kur = KuramotoSystem(KURAMOTO.validate(), g, CPU, dtype, "numba", 10.0)
    kur.draw(np.random.default_rng(0), {})
    theta = kur.tensor(kur.internal(kur.inputs["initial"])).to(device)
    fused = tk.KuramotoRHS(g, *sender_weights(g, 0.0), device, dtype, long=16, chunk=32, rows=16, cols=4)
    assert fused.hubs > 0
    k = kur.coupling_at(0.37)
    if device.type == "cpu":        # Triton's interpreter passes a float argument as float32
        k = float(np.float32(k))
    by_value, by_ref = torch.empty_like(theta), torch.empty_like(theta)
    fused(k, theta, kur.omega.to(device), by_value)
    fused(0.0, theta, kur.omega.to(device), by_ref, kref=torch.tensor([k], dtype=torch.float64, device=device))
    if dtype == torch.float32 or device.type == "cpu":
        assert torch.equal(by_value, by_ref)
    else:                               # compiled float64: K by value may arrive as float32 (see same)
        close = torch.abs(by_value - by_ref).max() <= 1e-6 * torch.abs(by_value).max()
        assert close, torch.abs(by_value - by_ref).max()


@needs_triton
@pytest.mark.parametrize("dynamics", [KURAMOTO, BURGERS], ids=["kuramoto", "burgers"])
def test_replayed_chunks_equal_the_plain_loop_on_cpu(monkeypatch, dynamics):
    """The chunked loop (coefficient table, replays of 3 steps, 1 plain step at the end)."""
    monkeypatch.setattr(System, "capturable", lambda self: self.backend == "triton")
    monkeypatch.setattr(sim_mod, "GraphedRK4", Replayed)
    g = hyperbolic_graph(300, mean_degree=6, seed=2)
    plain, graphed, built = runs(monkeypatch, dynamics, g, "cpu", t_end=7e-3, dt=1e-3, save_every=3, seed=4)
    assert [b.steps for b in built] == [3]
    same(plain, graphed)
    assert float(abs(graphed.state[-1] - graphed.state[0]).max()) > 1e-5


@needs_triton
def test_failed_capture_warns_and_runs_plain(monkeypatch):
    def broken(self):
        self._steps(1)                                  # the state is touched, then restored
        raise RuntimeError("capture refused")

    monkeypatch.setattr(System, "capturable", lambda self: self.backend == "triton")
    monkeypatch.setattr(GraphedRK4, "_capture", broken)
    g = hyperbolic_graph(200, mean_degree=6, seed=2)
    kw = dict(t_end=4e-3, dt=1e-3, save_every=2, seed=1, device="cpu", backend="triton")
    monkeypatch.setattr(sim_mod, "CUDA_GRAPHS", False)
    plain = sim_mod.simulate(KURAMOTO, g, **kw)
    monkeypatch.setattr(sim_mod, "CUDA_GRAPHS", True)
    with pytest.warns(RuntimeWarning, match="CUDA graph failed"):
        got = sim_mod.simulate(KURAMOTO, g, **kw)
    same(plain, got)


@needs_triton
@needs_cuda
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dynamics", [KURAMOTO, BURGERS], ids=["kuramoto", "burgers"])
def test_cuda_graph_run_is_bit_identical_cuda(monkeypatch, dynamics, dtype):
    """Replays of 20 steps (two per frame), 10 plain steps at the end; hubs split into blocks."""
    g = hyperbolic_graph(20_000, mean_degree=10, seed=3)
    dt = 1e-3 if dynamics is KURAMOTO else 1e-4        # Burgers' stability limit here: 1.9e-4
    plain, graphed, built = runs(monkeypatch, dynamics, g, "cuda", t_end=50 * dt, dt=dt, save_every=20, seed=2,
                                 dtype=dtype)
    assert [b.steps for b in built] == [20]
    same(plain, graphed)
    assert float(abs(graphed.state[-1] - graphed.state[0]).max()) > 1e-4


@needs_triton
@needs_cuda
def test_noisy_and_long_range_runs_stay_uncaptured_cuda(monkeypatch):
    """Euler–Maruyama steps and the long-range term run uncaptured (the same loop both times)."""
    g = hyperbolic_graph(2_000, mean_degree=6, seed=3)
    for spec in (KuramotoSpec(noise=0.1), KuramotoSpec(long_range=1.0)):
        plain, graphed, built = runs(monkeypatch, spec, g, "cuda", t_end=0.01, dt=1e-3, save_every=5, seed=2)
        assert built == []
        np.testing.assert_allclose(graphed.state.values, plain.state.values, rtol=0, atol=1e-5)
