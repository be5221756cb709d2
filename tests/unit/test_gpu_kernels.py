"""The fused Triton kernels against the numba CPU kernels, to 1e-5: on CPU tensors in
Triton's interpreter (no GPU needed), and compiled on a CUDA device when one is present."""
import os
import threading

import numpy as np
import pytest
import torch

from roma_core.cli import main
from roma_core.dynamics import simulate
from roma_core.dynamics import triton_kernels as tk
from roma_core.dynamics.integrate import RK4
from roma_core.dynamics.systems import BurgersSystem, KuramotoSystem, sender_weights
from roma_core.graphs import Graph, hyperbolic_graph
from roma_core.specs import BurgersSpec, KuramotoSpec

needs_triton = pytest.mark.skipif(not tk.available(), reason="triton is not installed (pip install triton)")
CPU = torch.device("cpu")
DEVICES = [pytest.param(CPU, id="cpu"), pytest.param(torch.device("cuda"), id="cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device: the compiled kernels are checked on a GPU only"))]
DTYPES = [torch.float32, torch.float64]


def weighted_graph(n):
    """A hyperbolic graph (hubs of high degree) with random edge weights."""
    g = hyperbolic_graph(n, mean_degree=6, seed=5)
    w = np.random.default_rng(1).uniform(0.5, 2.0, g.nnz)
    return Graph(g.indptr, g.indices, w, theta=g.theta)


@pytest.fixture(scope="module")
def graph():
    """Two windows of the Kuramoto kernel's node order (2,048 nodes each)."""
    return weighted_graph(2200)


@pytest.fixture(scope="module")
def small():
    return weighted_graph(400)


def variants(g):
    plain = Graph(g.indptr, g.indices, theta=g.theta)
    return {"plain": (plain, 0.0), "sender weights": (plain, 0.8), "edge weights": (g, 0.0)}


def close(got, ref):
    """Agreement to 1e-5 relative to the largest value of the reference."""
    got, ref = got.detach().cpu().double().numpy(), ref.detach().cpu().double().numpy()
    scale = max(1.0, np.abs(ref).max())
    assert np.abs(got - ref).max() <= 1e-5 * scale, np.abs(got - ref).max() / scale


@needs_triton
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["plain", "sender weights", "edge weights"])
def test_kuramoto_rhs_matches_numba(graph, case, dtype, device):
    g, alpha = variants(graph)[case]
    spec = KuramotoSpec(alpha=alpha).validate()
    ref_sys = KuramotoSystem(spec, g, CPU, dtype, "numba", 10.0)
    ref_sys.draw(np.random.default_rng(0), {})
    theta = ref_sys.inputs["initial"] + 3 * np.random.default_rng(2).standard_normal(g.num_nodes)
    y = ref_sys.tensor(ref_sys.internal(theta))
    ref = ref_sys.rhs(0.4, y, torch.empty_like(y))

    fused = tk.KuramotoRHS(g, *sender_weights(g, alpha), device, dtype)
    assert np.array_equal(fused.order, ref_sys.order)         # the CPU kernel's node order
    assert fused.sender == (alpha != 0) and fused.entry == (g.weights is not None)
    out = torch.full_like(y, np.nan, device=device)
    fused(ref_sys.coupling_at(0.4), y.to(device), ref_sys.omega.to(device), out)
    close(out, ref)


@needs_triton
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["plain", "sender weights", "edge weights"])
def test_burgers_rhs_matches_numba(small, case, dtype, device):
    g, alpha = variants(small)[case]
    spec = BurgersSpec(alpha=alpha, sources=0, initial="random", advection=2.0).validate()
    ref_sys = BurgersSystem(spec, g, CPU, dtype, "numba", 1.0)
    ref_sys.draw(np.random.default_rng(0), {})
    u = ref_sys.tensor(ref_sys.inputs["initial"] - 0.5)        # both signs: both upwind directions
    ref = ref_sys.rhs(0.0, u, torch.empty_like(u))

    fused = tk.BurgersRHS(g, ref_sys.pos, *sender_weights(g, alpha), spec, ref_sys.hmin, device, dtype)
    out = torch.full_like(u, np.nan, device=device)
    fused(u.to(device), out)
    close(out, ref)


@needs_triton
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_long_rows_split_into_blocks_match_numba(small, dtype, device):
    """Rows longer than ``long`` entries summed in blocks of ``chunk`` (several per row)."""
    g, tile = small, dict(long=16, chunk=32, rows=16, cols=4)
    kur = KuramotoSystem(KuramotoSpec(alpha=0.8).validate(), g, CPU, dtype, "numba", 10.0)
    kur.draw(np.random.default_rng(0), {})
    theta = kur.tensor(kur.internal(kur.inputs["initial"]))
    fused = tk.KuramotoRHS(g, *sender_weights(g, 0.8), device, dtype, **tile)
    assert fused.hubs > 5 and fused.chunks > fused.hubs
    out = torch.full_like(theta, np.nan, device=device)
    fused(kur.coupling_at(0.4), theta.to(device), kur.omega.to(device), out)
    close(out, kur.rhs(0.4, theta, torch.empty_like(theta)))

    spec = BurgersSpec(alpha=0.8, sources=0, initial="random", advection=2.0).validate()
    bur = BurgersSystem(spec, g, CPU, dtype, "numba", 1.0)
    bur.draw(np.random.default_rng(0), {})
    u = bur.tensor(bur.inputs["initial"] - 0.5)
    fused = tk.BurgersRHS(g, bur.pos, *sender_weights(g, 0.8), spec, bur.hmin, device, dtype, **tile)
    out = torch.full_like(u, np.nan, device=device)
    fused(u.to(device), out)
    close(out, bur.rhs(0.0, u, torch.empty_like(u)))


@needs_triton
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_fused_rk4_step_matches_the_plain_one(dtype, device):
    """A linear right-hand side with a known step: both RK4 forms agree with each other."""
    gen = torch.Generator().manual_seed(0)
    rate = -torch.rand(3000, generator=gen, dtype=dtype).to(device)
    rhs = lambda t, y, out: torch.mul(y, rate, out=out).add_(t)       # noqa: E731
    y0 = torch.randn(3000, generator=gen, dtype=dtype).to(device)
    plain, fused = y0.clone(), y0.clone()
    RK4(rhs, plain).step(0.3, plain, 0.1)
    RK4(rhs, fused, fused=True).step(0.3, fused, 0.1)
    close(fused, plain)
    assert not torch.equal(fused, y0)


@needs_triton
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dynamics", ["kuramoto", "burgers"])
def test_simulate_with_triton_matches_numba(dynamics, device):
    """Whole runs (fused stages, frames in the graph's order, observables)."""
    g = hyperbolic_graph(300, mean_degree=6, seed=2)
    dt = 2e-3
    kw = dict(t_end=3 * dt, dt=dt, save_every=1, seed=4)
    ref = simulate(dynamics, g, device="cpu", backend="numba", **kw)
    got = simulate(dynamics, g, device=device.type, backend="triton", **kw)
    assert got.attrs["backend"] == "triton" and got.sizes == ref.sizes
    close(torch.from_numpy(got.state.values), torch.from_numpy(ref.state.values))
    obs = "order_parameter" if dynamics == "kuramoto" else "mass"
    close(torch.from_numpy(got[obs].values), torch.from_numpy(ref[obs].values))
    assert float(abs(got.state[-1] - got.state[0]).max()) > 1e-4       # the state moved


@needs_triton
@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the tests above compile and run the kernels")
@pytest.mark.parametrize("dtype", ["fp32", "fp64"])
def test_kernels_compile_for_an_h100_without_a_gpu(dtype):
    """The compiled path (Triton's front end, PTX and ptxas), which the interpreter skips."""
    ptx = tk.compile_for(90, dtype)
    for name, text in ptx.items():
        assert ".target sm_90" in text and f".entry _{name}" in text, name
        assert f"ld.global.{'b32' if dtype == 'fp32' else 'b64'}" in text or "ld.global.v" in text, name


@needs_triton
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_auto_picks_cuda_and_triton():
    ds = simulate("kuramoto", hyperbolic_graph(200, seed=0), t_end=0.02, dt=0.01)
    assert ds.attrs["device"].startswith("cuda") and ds.attrs["backend"] == "triton"


def test_frame_errors_reach_the_caller_and_stop_the_writer():
    """A failing write (here: the sink raises) ends the run with that error, no thread left."""
    class Broken:
        def frame(self, index, state, obs):
            if index == 2:
                raise OSError("disk full")

    from roma_core.dynamics.simulate import Run, simulation_spec
    run = Run("kuramoto", hyperbolic_graph(200, seed=0), simulation_spec(0.2, 0.01, 2, 0, "cpu", "float32", "auto"),
              torch.float32)
    with pytest.raises(OSError, match="disk full"):
        run.execute(Broken())
    assert not any(t.name == "roma-frames" for t in threading.enumerate())



def test_info_devices_says_what_torch_sees(capsys):
    assert main(["info", "--devices"]) == 0
    out = capsys.readouterr().out
    assert f"torch {torch.__version__}" in out and f"CPU: {os.cpu_count()} cores" in out
    if torch.cuda.is_available():
        assert out.count("cuda:") == torch.cuda.device_count()
    else:
        assert "CUDA: no device visible" in out
    assert ("triton " in out) == tk.available()
    assert f"device='auto' runs on: {'cuda' if torch.cuda.is_available() else 'cpu'}" in out
    assert main(["info"]) == 2
    assert "PATH" in capsys.readouterr().err


def test_simulate_view_says_which_device_runs_the_job():
    from app.state import Session
    from app.views.simulate import SimulateView

    view = SimulateView(session=Session(graph=hyperbolic_graph(150, mean_degree=6, seed=2)))
    view.simulation.param.update(t_end=0.05, dt=0.01, save_every=5)          # device "auto"
    where = f"CUDA: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU"
    assert view.run(wait=True), view.status
    assert view.job.status.startswith(f"Simulating Kuramoto on 150 nodes ({where}): done"), view.job.status
    view.cleanup()
