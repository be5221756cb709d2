"""Tile and split variants of the fused Kuramoto and Burgers kernels against torch (issue 14).

For hyperbolic graphs (mean degree 10, seed 0) of ``--nodes`` and ``--big`` nodes, float32:
every variant of ``VARIANTS`` (the tile ``rows`` x ``cols``, ``warps``, and the split of
rows longer than ``long`` entries into blocks of ``chunk``; libdevice's sine), then the
fastest of them with the polynomial sine (``poly``), is timed back to back with CUDA events
(ms per call, launches included; and the host's time to launch one), and as one
synchronised call (the median, as ``bench_gpu`` times it); each result is checked against
torch's CSR SpMM to 1e-5 of the largest value. Then the module's defaults run end to end
(``--steps`` RK4 steps, 101 frames to zarr) against the torch backend, with the parts of
it: the set-up (a run of 2 steps) and the stepping loop alone (no frames).

    python -m benchmarks.triton_variants [--nodes 1000000] [--big 10000000] [--steps 2000] [--only 64/256,w8]
    python -m benchmarks.triton_variants --quick      # tiny, on the CPU with Triton's interpreter
"""
from __future__ import annotations

import argparse
import time
from unittest import mock

import numpy as np
import torch

from benchmarks.bench_dynamics import median_ms
from benchmarks.bench_gpu import end_to_end, line, sync

NO_SPLIT = 2**30
VARIANTS = {                     # name: tile, split and sine ("default": the module's values)
    "64x16 w4, no split (before)": dict(rows=64, cols=16, warps=4, long=NO_SPLIT, poly=False),
    "64x16 w4, split 256/1024": dict(rows=64, cols=16, warps=4, long=256, chunk=1024, poly=False),
    "128x8 w4, split 256/1024": dict(rows=128, cols=8, warps=4, long=256, chunk=1024, poly=False),
    "128x8 w8, split 256/1024": dict(rows=128, cols=8, warps=8, long=256, chunk=1024, poly=False),
    "256x4 w4, split 256/1024": dict(rows=256, cols=4, warps=4, long=256, chunk=1024, poly=False),
    "256x2 w8, split 64/256 (a row per lane)": dict(rows=256, cols=2, warps=8, long=64, chunk=256, poly=False),
    "128x8 w4, split 64/256": dict(rows=128, cols=8, warps=4, long=64, chunk=256, poly=False),
    "128x8 w4, split 1024/4096": dict(rows=128, cols=8, warps=4, long=1024, chunk=4096, poly=False),
    "128x8 w4, split 32/128, poly": dict(rows=128, cols=8, warps=4, long=32, chunk=128, poly=True),
    "128x4 w4, split 32/128, poly": dict(rows=128, cols=4, warps=4, long=32, chunk=128, poly=True),
    "256x2 w8, split 64/256, poly": dict(rows=256, cols=2, warps=8, long=64, chunk=256, poly=True),
    "128x8 w4, split 64/1024, poly": dict(rows=128, cols=8, warps=4, long=64, chunk=1024, poly=True),
    "64x8 w2, split 64/256, poly": dict(rows=64, cols=8, warps=2, long=64, chunk=256, poly=True),
}


def times(fn, device, repeat: int) -> tuple[float, float, float]:
    """(ms per call back to back, median ms of one synchronised call, host ms per launch)."""
    if device.type != "cuda":
        return median_ms(fn, 1), median_ms(fn, 1), float("nan")
    fn()
    torch.cuda.synchronize()
    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    a.record()
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    host = 1e3 * (time.perf_counter() - t) / repeat
    b.record()
    b.synchronize()

    def once():
        fn()
        torch.cuda.synchronize()

    return a.elapsed_time(b) / repeat, median_ms(once, repeat), host


def error(got: np.ndarray, ref: np.ndarray) -> float:
    return float(np.max(np.abs(got - ref)) / max(1.0, np.max(np.abs(ref))))


def kuramoto(graph, device, repeat: int, variants: dict) -> dict:
    """ms per call of torch and of every variant, then of the fastest with the polynomial sine
    (added to ``variants``); returns {variant: ms back to back}."""
    from roma_core.dynamics import kernels
    from roma_core.dynamics import triton_kernels as tk
    from roma_core.dynamics.systems import make_system, sender_weights
    from roma_core.specs import KuramotoSpec

    spec = KuramotoSpec(coupling=5.0, schedule="constant").validate()
    size = f"Kuramoto RHS {graph.num_nodes:.0e} nodes / {graph.nnz:.0e} entries, f32"
    ref_sys = make_system(spec, graph, device, torch.float32, "torch", 1.0)
    ref_sys.draw(np.random.default_rng(0), {})
    theta0, k = ref_sys.inputs["initial"], ref_sys.coupling_at(0.5)
    y, res = ref_sys.tensor(theta0), torch.empty(graph.num_nodes, device=device)
    fast, synced, host = times(lambda: ref_sys.rhs(0.5, y, res), device, repeat)
    line(f"{size}, torch SpMM", f"{fast:.3f} ms", f"synced {synced:.3f} ms, host {host:.3f} ms")
    ref = res.cpu().double().numpy()
    omega = ref_sys.inputs["omega"]
    del ref_sys, y, res

    w, inv = sender_weights(graph, spec.alpha)
    layout = kernels.padded_rows(graph.indptr, graph.indices, graph.weights)     # once for all variants
    order = layout[0]
    theta = torch.as_tensor(theta0[order], dtype=torch.float32, device=device)
    om = torch.as_tensor(omega[order], dtype=torch.float32, device=device)
    out, got = torch.empty_like(theta), np.empty(graph.num_nodes)

    def run(name, tile):
        with mock.patch.object(tk.kernels, "padded_rows", lambda *a: layout):
            fused = tk.KuramotoRHS(graph, w, inv, device, torch.float32, **tile)
        t = time.perf_counter()
        fused(k, theta, om, out)
        if device.type == "cuda":
            torch.cuda.synchronize()
        first = time.perf_counter() - t
        slow = tile.get("long") == NO_SPLIT and device.type == "cuda"
        fast, synced, host = times(lambda: fused(k, theta, om, out), device, max(3, repeat // 8) if slow else repeat)
        got[order] = out.cpu().double().numpy()
        err = error(got, ref)
        line(f"  triton {name}", f"{fast:.3f} ms", f"synced {synced:.3f} ms, host {host:.3f} ms, vs torch "
             f"{err:.1e}{'' if err <= 1e-5 else ' FAILS 1e-5'}, {fused.hubs} long rows in {fused.chunks} "
             f"blocks, first call {first:.1f} s")
        return fast if err <= 1e-5 else float("inf")

    result = {name: run(name, tile) for name, tile in list(variants.items())}
    top = min(result, key=result.get)
    if not variants[top]["poly"] and f"{top}, poly sine" not in variants:                      # the fastest tile again, with the polynomial sine
        variants[f"{top}, poly sine"] = tile = {**variants[top], "poly": True}
        result[f"{top}, poly sine"] = run(f"{top}, poly sine", tile)
    return result


def burgers(graph, device, repeat: int, variants: dict) -> None:
    """Burgers RHS: torch and the variants, each checked against torch."""
    from roma_core.dynamics import triton_kernels as tk
    from roma_core.dynamics.systems import make_system
    from roma_core.specs import BurgersSpec

    spec = BurgersSpec(advection=2.0, sources=0, initial="random").validate()
    ref_sys = make_system(spec, graph, device, torch.float32, "torch", 1.0)
    ref_sys.draw(np.random.default_rng(0), {})
    u = ref_sys.tensor(ref_sys.inputs["initial"] - 0.5)
    res = torch.empty_like(u)
    fast, synced, host = times(lambda: ref_sys.rhs(0.0, u, res), device, repeat)
    line(f"Burgers RHS {graph.num_nodes:.0e} nodes, f32, torch gather + index_add", f"{fast:.3f} ms",
         f"synced {synced:.3f} ms, host {host:.3f} ms")
    ref = res.cpu().double().numpy()
    out = torch.empty_like(u)
    for name, tile in variants.items():
        fused = tk.BurgersRHS(graph, ref_sys.pos, *ref_sys._w_inv, spec, ref_sys.hmin, device, torch.float32, **tile)
        slow = tile.get("long") == NO_SPLIT and device.type == "cuda"
        fast, synced, host = times(lambda: fused(u, out), device, max(3, repeat // 8) if slow else repeat)
        err = error(out.cpu().double().numpy(), ref)
        line(f"  triton {name}", f"{fast:.3f} ms", f"synced {synced:.3f} ms, host {host:.3f} ms, vs torch {err:.1e}"
             f"{'' if err <= 1e-5 else ' FAILS 1e-5'}")
        del fused


def loop_seconds(graph, steps: int, backend: str, device: str = "cuda") -> float:
    """Seconds for ``steps`` RK4 steps of the Kuramoto system alone (no frames, no set-up)."""
    from roma_core.dynamics.integrate import RK4
    from roma_core.dynamics.systems import make_system
    from roma_core.specs import KuramotoSpec

    sysm = make_system(KuramotoSpec().validate(), graph, torch.device(device), torch.float32, backend, steps * 1e-3)
    sysm.draw(np.random.default_rng(0), {})
    y = sysm.tensor(sysm.internal(sysm.inputs["initial"]))
    stepper = RK4(sysm.rhs, y, fused=backend == "triton")
    stepper.step(0.0, y, 1e-3)
    sync(device)
    t = time.perf_counter()
    for n in range(steps):
        stepper.step(n * 1e-3, y, 1e-3)
    sync(device)
    return time.perf_counter() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000, help="nodes of the second graph (0: skip)")
    ap.add_argument("--steps", type=int, default=2000, help="RK4 steps end to end (0: skip)")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--only", default="", help="comma-separated parts of variant names (the default always runs)")
    ap.add_argument("--quick", action="store_true", help="tiny graph on the CPU (Triton's interpreter)")
    args = ap.parse_args(argv)
    from roma_core.dynamics import simulate
    from roma_core.dynamics import triton_kernels as tk
    from roma_core.graphs import hyperbolic_graph

    device = torch.device("cpu" if args.quick or not torch.cuda.is_available() else "cuda")
    default = dict(rows=tk.ROWS, cols=tk.COLS, warps=tk.WARPS, long=tk.LONG, chunk=tk.CHUNK, poly=tk.POLY)
    variants = {f"default {tk.ROWS}x{tk.COLS} w{tk.WARPS}, split {tk.LONG}/{tk.CHUNK}"
                f"{', poly' if tk.POLY else ''}": default}
    parts = [p for p in args.only.split(",") if p]
    variants.update({k: v for k, v in VARIANTS.items() if not parts or any(p in k for p in parts)})
    if args.quick:
        args.nodes, args.big, args.steps, args.repeat = 3000, 0, 0, 1
        variants = {name: {**tile, "long": min(tile["long"], 32), "chunk": 64} for name, tile in variants.items()}
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "CPU (interpreter)"
    print(f"# triton_variants on {name}, torch {torch.__version__}")
    for i, n in enumerate([args.nodes] + ([args.big] if args.big else [])):
        t = time.perf_counter()
        g = hyperbolic_graph(n, mean_degree=10, seed=0)
        deg = np.diff(g.indptr)
        print(f"\ngraph: {n:,} nodes, {g.nnz:,} entries, largest degree {deg.max():,} "
              f"({time.perf_counter() - t:.1f} s)")
        r = kuramoto(g, device, args.repeat, variants)
        line("  fastest", min(r, key=r.get))
        if i == 0:
            burgers(g, device, args.repeat, {k: v for k, v in variants.items()
                                             if k.startswith("default") or k == next(iter(VARIANTS))})
        if i == 0 and args.steps:
            runs = {}
            for backend in ("triton", "torch"):
                runs[backend] = end_to_end(g, args.steps, 100, "cuda", backend)
                t = time.perf_counter()
                simulate("kuramoto", g, t_end=2e-3, dt=1e-3, save_every=1, device="cuda", backend=backend)
                setup = time.perf_counter() - t
                loop = loop_seconds(g, args.steps, backend)
                line(f"end to end {n:.0e} nodes, {args.steps} RK4 steps, 101 frames, {backend}",
                     f"{runs[backend]:.2f} s", f"set-up (2 steps) {setup:.2f} s, loop alone {loop:.2f} s")
            line("  triton speed-up over the torch backend", f"{runs['torch'] / runs['triton']:.1f}x")
        del g


if __name__ == "__main__":
    main()
