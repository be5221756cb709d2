"""Dynamics benchmarks (targets from issue 4).

1. Kuramoto right-hand side on an S1 graph with N = 10^6 and ~10^7 stored entries: ms per
   evaluation (sin/cos included), against (a) the time to stream the CSR arrays once at the
   copy bandwidth measured in the same run (target: <= 4x) and (b) a scipy.sparse version
   (two SpMVs) timed in the same run on the same graph (target: >= 2.5x faster). torch's
   CSR SpMM (the CUDA code path, run on CPU) is timed too, for reference.
2. End to end: 10^6 nodes, 2,000 RK4 steps, 100 frames streamed to zarr, in a fresh process:
   wall time and peak RSS (target <= 6 GiB).
3. ``--device cuda``: the right-hand side on the GPU against its own copy bandwidth; skipped
   with a message when no CUDA device is present.
4. ``--long-range K_LR``: the Kuramoto right-hand side with the long-range power-law term
   (exponent ``--exponent``) against the graph-only right-hand side timed in the same run
   (target: <= 10x), the one-off cost of building the long-range operator, and the end to
   end run (``--steps`` RK4 steps) with the term switched on.

    .venv/bin/python -m benchmarks.bench_dynamics [--nodes 1000000] [--steps 2000] [--quick]
    .venv/bin/python -m benchmarks.bench_dynamics --long-range 1 --exponent 1.5 --steps 500
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._util import isolated, machine_load

TARGET_FLOOR, TARGET_SCIPY, TARGET_GIB, TARGET_LONG_RANGE = 4.0, 2.5, 6.0, 10.0


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def copy_bandwidth(device: str = "cpu", nbytes: int = 512 << 20) -> float:
    """Bytes moved per second (read + write) by a large array copy."""
    import torch

    a = torch.ones(nbytes // 8, dtype=torch.float64, device=device)
    b = torch.empty_like(a)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)

    def copy():
        b.copy_(a)
        sync()

    if device == "cpu":
        src, dst = a.numpy(), b.numpy()
        copy = lambda: np.copyto(dst, src)  # noqa: E731  (numpy's copy: one thread, the plain floor)
    return 2 * nbytes / (median_ms(copy, 10) / 1e3)


def csr_bytes(graph) -> int:
    return graph.indptr.nbytes + graph.indices.nbytes + (0 if graph.weights is None else graph.weights.nbytes)


def rhs_benchmark(graph, device: str, repeat: int) -> dict:
    import torch

    from roma_core.dynamics.systems import make_system, sender_weights
    from roma_core.specs import KuramotoSpec

    spec = KuramotoSpec(coupling=5.0, schedule="constant", alpha=0.5)
    dev = torch.device(device)
    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    out = {"nodes": graph.num_nodes, "entries": graph.nnz, "device": device}
    backends = ["numba", "torch"] if device == "cpu" else ["torch"]
    for backend in backends:
        sysm = make_system(spec, graph, dev, torch.float32, backend, 1.0)
        sysm.draw(np.random.default_rng(0), {})
        y = sysm.tensor(sysm.internal(sysm.inputs["initial"]))
        res = torch.empty_like(y)

        def call():
            sysm.rhs(0.5, y, res)
            sync()

        if backend == "numba":
            import numba

            full = numba.get_num_threads()
            for threads in sorted({1, full}):
                numba.set_num_threads(threads)
                out[f"numba_{threads}t_ms"] = median_ms(call, repeat)
            numba.set_num_threads(full)
            out["numba_ms"] = min(out[f"numba_{t}t_ms"] for t in {1, full})
            ours = sysm.external(res.numpy())
        else:
            out[f"{backend}_ms"] = median_ms(call, repeat)
        del sysm
    if device == "cpu":
        w, inv = sender_weights(graph, 0.5)
        a = graph.adjacency(np.float32)
        W = (a.multiply(w[None, :].astype(np.float32)).tocsr()).multiply(inv[:, None].astype(np.float32)).tocsr()
        W.sort_indices()
        rng = np.random.default_rng(0)                      # same draws as the system above
        omega = np.clip(rng.standard_normal(graph.num_nodes), -5, 5)
        omega = (omega - omega.mean()).astype(np.float32)
        theta = (5.0 * rng.standard_normal(graph.num_nodes)).astype(np.float32)

        def scipy_rhs():
            s, c = np.sin(theta), np.cos(theta)
            return omega + 5.0 * (c * (W @ s) - s * (W @ c))

        out["scipy_ms"] = median_ms(scipy_rhs, repeat)
        out["max_abs_diff_vs_scipy"] = float(np.max(np.abs(scipy_rhs() - ours)))
    return out


def long_range_benchmark(graph, k_lr: float, exponent: float, device: str, repeat: int) -> dict:
    """Kuramoto RHS (float32) without and with the long-range term, same graph, same process,
    with the threads a simulation uses."""
    from roma_core.dynamics.simulate import threads_for

    backend = "numba" if device == "cpu" else "torch"
    out = {}
    with threads_for(graph.num_nodes + graph.nnz, backend):
        for name, k in (("local", 0.0), ("long_range", k_lr)):
            out.update(rhs_times(graph, name, k, exponent, device, backend, repeat))
    return out


def rhs_times(graph, name: str, k_lr: float, exponent: float, device: str, backend: str, repeat: int) -> dict:
    import torch

    from roma_core.dynamics.systems import make_system
    from roma_core.specs import KuramotoSpec

    sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    spec = KuramotoSpec(coupling=5.0, schedule="constant", alpha=0.5, long_range=k_lr, long_range_exponent=exponent)
    start = time.perf_counter()
    sysm = make_system(spec, graph, torch.device(device), torch.float32, backend, 1.0)
    out = {f"{name}_build_s": time.perf_counter() - start}
    sysm.draw(np.random.default_rng(0), {})
    y = sysm.tensor(sysm.internal(sysm.inputs["initial"]))
    res = torch.empty_like(y)

    def call():
        sysm.rhs(0.5, y, res)
        sync()

    out[f"{name}_ms"] = median_ms(call, repeat)
    if sysm.long_range is not None:
        sc = torch.stack([torch.sin(y), torch.cos(y)], 1)
        out["operator_ms"] = median_ms(lambda: (sysm.long_range(sc), sync()), repeat)
        out["near_per_node"] = sysm.long_range.near_weights / graph.num_nodes
    return out


def end_to_end(graph_path: str, steps: int, frames: int, out: str, long_range: float = 0.0,
               exponent: float = 1.0) -> dict:
    """Run in a fresh process: load the graph, integrate with RK4 and stream to zarr."""
    import torch

    from roma_core.dynamics import Kuramoto, simulate
    from roma_core.graphs import Graph

    g = Graph.load(graph_path)
    start = time.perf_counter()
    spec = Kuramoto(long_range=long_range, long_range_exponent=exponent)
    ds = simulate(spec, g, t_end=steps * 1e-3, dt=1e-3, save_every=steps // frames, dtype=torch.float32, out=out)
    return {"simulate_s": time.perf_counter() - start, "frames": int(ds.sizes["time"]),
            "store_mib": sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file()) / 2**20,
            "final_R": float(ds["order_parameter"][-1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--mean-degree", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--quick", action="store_true", help="100k nodes, 200 steps (a smoke run)")
    ap.add_argument("--skip-e2e", action="store_true")
    ap.add_argument("--long-range", type=float, default=0.0,
                    help="K_lr: time the long-range term instead of the graph-only benchmarks (0: off)")
    ap.add_argument("--exponent", type=float, default=1.5, help="exponent s of the long-range term")
    args = ap.parse_args()
    if args.quick:
        args.nodes, args.steps, args.frames, args.repeat = 100_000, 200, 10, 5

    import numba
    import torch

    from roma_core.graphs import hyperbolic_graph

    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_dynamics: --device cuda skipped: no CUDA device on this machine "
              "(the torch path is timed on CPU below instead)")
        args.device = "cpu"

    print(f"# bench_dynamics  ({machine_load()}; numba threads {numba.get_num_threads()}, "
          f"torch threads {torch.get_num_threads()})")
    t0 = time.perf_counter()
    g = hyperbolic_graph(args.nodes, mean_degree=args.mean_degree, seed=0)
    print(f"graph: {g.num_nodes:,} nodes, {g.nnz:,} stored entries (generated in {time.perf_counter() - t0:.1f} s)")

    if args.long_range:
        r = long_range_benchmark(g, args.long_range, args.exponent, args.device, args.repeat)
        ratio = r["long_range_ms"] / r["local_ms"]
        print(f"Kuramoto RHS, float32, graph terms only: {r['local_ms']:.2f} ms; with the long-range term "
              f"(K_lr = {args.long_range}, s = {args.exponent}): {r['long_range_ms']:.2f} ms = {ratio:.1f}x "
              f"(target <= {TARGET_LONG_RANGE}x); the long-range operator alone on (sin, cos): "
              f"{r['operator_ms']:.2f} ms; built once in {r['long_range_build_s'] - r['local_build_s']:.1f} s "
              f"(near-field weights per node: {r['near_per_node']})")
        print(f"after: {machine_load()}")
    else:
        graph_only_benchmarks(g, args)
    if args.skip_e2e:
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_dyn_"))
    try:
        gpath = g.save(tmp / "g.npz")
        del g
        res = isolated("benchmarks.bench_dynamics:end_to_end", str(gpath), args.steps, args.frames,
                       str(tmp / "run.zarr"), args.long_range, args.exponent, timeout=3600)
        peak = res["peak_rss_mib"] / 1024
        what = f", long-range K_lr = {args.long_range}, s = {args.exponent}" if args.long_range else ""
        print(f"end to end: {args.nodes:,} nodes{what}, {args.steps} RK4 steps, {res['result']['frames']} frames to "
              f"zarr ({res['result']['store_mib']:.0f} MiB): {res['result']['simulate_s']:.1f} s, peak RSS "
              f"{peak:.2f} GiB (target <= {TARGET_GIB} GiB); {1e3 * res['result']['simulate_s'] / args.steps:.1f} "
              "ms/step")
        print(f"after: {machine_load()}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def graph_only_benchmarks(g, args) -> None:
    """Modes 1 and 3: the graph-only RHS against the bandwidth floor, scipy and torch."""
    bw = copy_bandwidth(args.device)
    floor_ms = 1e3 * csr_bytes(g) / bw
    print(f"copy bandwidth {bw / 1e9:.1f} GB/s -> streaming the CSR ({csr_bytes(g) / 2**20:.0f} MiB) once: "
          f"{floor_ms:.2f} ms")
    r = rhs_benchmark(g, args.device, args.repeat)
    ours = r["numba_ms"] if args.device == "cpu" else r["torch_ms"]
    print(f"Kuramoto RHS ({'numba' if args.device == 'cpu' else 'torch'}, float32): {ours:.2f} ms "
          f"= {ours / floor_ms:.2f}x the bandwidth floor (target <= {TARGET_FLOOR}x)")
    if args.device == "cpu":
        for key, v in r.items():
            if key.startswith("numba_") and key.endswith("t_ms"):
                print(f"  numba with {key.split('_')[1][:-1]} thread(s): {v:.2f} ms = {v / floor_ms:.2f}x the floor, "
                      f"scipy / ours = {r['scipy_ms'] / v:.2f}x")
        print(f"scipy.sparse (2 SpMVs + sin/cos): {r['scipy_ms']:.2f} ms -> ours is {r['scipy_ms'] / ours:.2f}x "
              f"faster (target >= {TARGET_SCIPY}x); max |diff| {r['max_abs_diff_vs_scipy']:.2e}")
        print(f"torch CSR SpMM on CPU (the CUDA code path): {r['torch_ms']:.2f} ms")
    print(f"after: {machine_load()}")


if __name__ == "__main__":
    main()
