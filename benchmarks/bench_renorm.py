"""Renormalization hierarchies at scale (issues 5 and 17): wall time and peak RSS, each case in
a fresh process that first loads the graph from .npz (the load is not timed; its RSS counts).

* GRG, 5 levels, N = 10^6, <k> = 10 (targets <= 20 s, <= 4 GiB); ratio to the same run's
  N = 10^5 time.
* LRG, one level with the defaults (reduction 2, tau* where N/2 modes are left), N = 10^5
  (target <= 60 s) and N = 10^6: time, memory, supernode sizes (largest, histogram), tau*;
  ratio to one sparse product L @ X (X: N x 64 float32).
* LRG and GRG, 3 levels at N = 10^5: sizes and the coarse graphs' degree tails (exponent
  gamma fitted by discrete maximum likelihood, largest degree) side by side.
* diffusion_profile with 30 tau at N = 10^6 (stochastic Lanczos quadrature): time, memory.

    .venv/bin/python -m benchmarks.bench_renorm [--quick] [--skip grg,lrg,lrg1m,tails,profile1m]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks._util import isolated, machine_load

GRG_S, GRG_GIB, LRG_S = 20.0, 4.0, 60.0


def make_graph(n: int, path: str) -> dict:
    from roma_core.graphs import hyperbolic_graph

    g = hyperbolic_graph(n, mean_degree=10, gamma=2.7, beta=2.0, seed=0)
    g.save(path)
    return {"nodes": g.num_nodes, "edges": g.num_edges, "max_degree": int(g.degree.max())}


def _load(path: str):
    from roma_core.graphs import Graph

    return Graph.load(path)


def grg(path: str, levels: int) -> dict:
    from roma_core.renorm import geometric

    g = _load(path)
    start = time.perf_counter()
    h = geometric(g, block=2, levels=levels)
    return {"op_s": time.perf_counter() - start, "sizes": h.sizes,
            "mean_degree": [round(2 * x.num_edges / x.num_nodes, 2) for x in h.graphs]}


def lrg(path: str, features: int = 64) -> dict:
    import numpy as np

    from roma_core.renorm import laplacian

    g = _load(path)
    start = time.perf_counter()
    h = laplacian(g, levels=1, features=features)
    sizes = np.bincount(h.membership(1))
    return {"op_s": time.perf_counter() - start, "sizes": h.sizes, "tau": round(h.meta["tau"][0], 3),
            "criterion": h.meta["criterion"][0], "largest_supernode": int(sizes.max()),
            "size_histogram": np.bincount(sizes).tolist()}


def tails(path: str, levels: int = 3) -> dict:
    """Sizes and coarse degree tails of the LRG (defaults) and the GRG (block 2)."""
    import numpy as np

    from roma_core.graphs import degree_exponent
    from roma_core.renorm import geometric, laplacian

    g = _load(path)
    start = time.perf_counter()
    out = {}
    for name, h in (("LRG", laplacian(g, levels=levels)), ("GRG", geometric(g, block=2, levels=levels))):
        rows = []
        for level, x in enumerate(h.graphs):
            gamma, kmin = degree_exponent(x.degree)
            rows.append({"level": level, "nodes": x.num_nodes, "mean_degree": round(2 * x.num_edges / x.num_nodes, 2),
                         "max_degree": int(x.degree.max()), "gamma": round(float(gamma), 2), "kmin": int(kmin),
                         "largest_supernode": int(np.bincount(h.membership(level)).max())})
        out[name] = rows
    return {"op_s": time.perf_counter() - start, **out}


def profile(path: str, count: int) -> dict:
    import numpy as np

    from roma_core.renorm import diffusion_profile

    g = _load(path)
    start = time.perf_counter()
    p = diffusion_profile(g, np.logspace(-2, 2, count))
    i = int(np.argmax(p["C"].values))
    return {"op_s": time.perf_counter() - start, "tau_peak": p.attrs["tau_peak"], "C_peak": float(p["C"][i]),
            "C_err_peak": float(p["C_err"][i]), "probes": p.attrs["probes"], "steps_used": p.attrs["steps_used"],
            "last_change": p.attrs["last_change"]}


def spmm(path: str, columns: int = 64) -> dict:
    import numpy as np

    g = _load(path)
    lap = g.laplacian().astype(np.float32)
    x = np.ones((g.num_nodes, columns), dtype=np.float32)
    lap @ x
    start = time.perf_counter()
    for _ in range(3):
        lap @ x
    return {"op_s": (time.perf_counter() - start) / 3}


def run(label: str, target: str, *args, timeout: float = 900, **kwargs) -> dict | None:
    try:
        r = isolated(target, *args, timeout=timeout, **kwargs)
    except Exception as exc:  # noqa: BLE001 - report and go on with the other cases
        print(f"{label:48s} FAILED: {str(exc).strip().splitlines()[-1][:200]}")
        return None
    res = r["result"]
    extra = {k: v for k, v in res.items() if k != "op_s"}
    print(f"{label:48s} {res['op_s']:8.2f} s  peak RSS {r['peak_rss_mib'] / 1024:5.2f} GiB  {extra}", flush=True)
    return r


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10x smaller sizes, for a smoke test")
    parser.add_argument("--skip", default="", help="comma-separated cases to skip: grg,lrg,lrg1m,tails,profile1m")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    big, small = (100_000, 10_000) if args.quick else (1_000_000, 100_000)
    print(f"# renorm benchmark; before: {machine_load()}")
    with tempfile.TemporaryDirectory() as tmp:
        paths = {n: str(Path(tmp) / f"g{n}.npz") for n in (small, big)}
        for n, path in paths.items():
            info = isolated("benchmarks.bench_renorm:make_graph", n, path, timeout=900)["result"]
            print(f"graph N={n:,}: {info}")
        base = run(f"sparse L @ X (X: N x 64 float32), N={small:,}", "benchmarks.bench_renorm:spmm", paths[small])
        if "grg" not in skip:
            g_small = run(f"GRG 5 levels N={small:,}", "benchmarks.bench_renorm:grg", paths[small], 5)
            g_big = run(f"GRG 5 levels N={big:,}", "benchmarks.bench_renorm:grg", paths[big], 5)
            if g_small and g_big:
                t, gib = g_big["result"]["op_s"], g_big["peak_rss_mib"] / 1024
                ok = t <= GRG_S and gib <= GRG_GIB
                print(f"  GRG N={big:,}: {t:.1f} s (target <= {GRG_S:g}), {gib:.2f} GiB (target <= {GRG_GIB:g}), "
                      f"ratio to N={small:,}: {t / g_small['result']['op_s']:.1f} -> {'met' if ok else 'MISSED'}")
        if "lrg" not in skip:
            r = run(f"LRG 1 level N={small:,} (defaults)", "benchmarks.bench_renorm:lrg", paths[small])
            if r and base:
                t = r["result"]["op_s"]
                print(f"  = {t / base['result']['op_s']:.0f} x one L @ X; target <= {LRG_S:g} s -> "
                      f"{'met' if t <= LRG_S else 'MISSED'}")
        if "lrg1m" not in skip:
            run(f"LRG 1 level N={big:,} (defaults, 32 features)", "benchmarks.bench_renorm:lrg", paths[big], 32,
                timeout=3600)
        if "tails" not in skip:
            run(f"LRG vs GRG 3 levels N={small:,}: degree tails", "benchmarks.bench_renorm:tails", paths[small])
        if "profile1m" not in skip:
            run(f"diffusion_profile 30 tau N={big:,} (SLQ)", "benchmarks.bench_renorm:profile", paths[big], 30)
    print(f"# after: {machine_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
