"""A forecast of every node of a 10^6-node graph (issue 31): how long the first window (with
its attention map) and the next one take with layer-wise whole-graph inference, against a
plain forward pass of one batch of every node measured in the same run, and against the
arithmetic floor: the forecast's matrix-product flops (counted by torch's FlopCounterMode)
at this machine's rate for products of the model's shapes, measured in the same run.

    .venv/bin/python -m benchmarks.bench_inference [--nodes 1000000] [--run assets/roma_kuramoto_2k]

The trajectory (Kuramoto on an S1 graph, ⟨k⟩ = 10, 41 frames) is simulated once and kept
under ``$ROMA_BENCH_OUT`` (default /tmp/roma_bench_models); the run is the shipped ROMA by
default, so its graph is a new one to it. The measurement runs in a fresh process (its
peak memory is its own), with the torch threads of the machine (``--threads``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._util import isolated, machine_load

OUT = Path(os.environ.get("ROMA_BENCH_OUT", "/tmp/roma_bench_models"))
ROOT = Path(__file__).resolve().parents[1]


def trajectory(nodes: int) -> Path:
    """The benchmark's trajectory on ``nodes`` nodes, simulated once."""
    path = OUT / f"inference_kuramoto_{nodes}.zarr"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "roma_core.cli", "simulate", "kuramoto", "--nodes", str(nodes),
                        "--mean-degree", "10", "--t-end", "4", "--dt", "0.01", "--save-every", "10", "--out",
                        str(path)], check=True, cwd=ROOT, capture_output=True)
    return path


def matmul_rate(width: int, rows: int = 1 << 17, reps: int = 20) -> float:
    """Flops per second of ``(rows, width) @ (width, width)`` products plus a bias (the
    shape of the model's linear maps)."""
    import torch

    x, w, b = torch.randn(rows, width), torch.randn(width, width), torch.randn(width)
    torch.addmm(b, x, w)
    t = time.perf_counter()
    for _ in range(reps):
        torch.addmm(b, x, w)
    return 2 * rows * width * width * reps / (time.perf_counter() - t)


def measure(run: str, data: str, threads: int) -> dict:
    """Open the run on the trajectory, forecast two windows one by one, a plain pass, and
    the flop count of one window."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from roma_core.eval import forecast, load_run

    torch.set_num_threads(threads)
    out = {}
    t = time.perf_counter()
    model, ctx, _ = load_run(run, data)
    out["open_s"] = time.perf_counter() - t
    starts = ctx.windows.starts("all")[:2]
    for i, name in enumerate(("first_window_s", "second_window_s")):
        t = time.perf_counter()
        f = forecast(model, ctx, starts[i:i + 1])
        out[name] = time.perf_counter() - t
    out["attention_shape"] = list(f.attention.shape) if f.attention is not None else None
    with torch.inference_mode():
        t = time.perf_counter()
        model(ctx.batch(starts[:1]))
        out["plain_pass_s"] = time.perf_counter() - t
    counter = FlopCounterMode(display=False)
    with counter:
        forecast(model, ctx, starts[:1])
    out["matmul_flops"] = counter.get_total_flops()
    out["matmul_rate"] = matmul_rate(model.spec.hidden)
    out["floor_s"] = out["matmul_flops"] / out["matmul_rate"]
    out.update(nodes=ctx.windows.graph.num_nodes, edges=ctx.windows.graph.num_edges, threads=threads)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--run", default=str(ROOT / "roma_core" / "assets" / "roma_kuramoto_2k"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args(argv)
    data = trajectory(args.nodes)
    r = isolated("benchmarks.bench_inference:measure", args.run, str(data), args.threads, timeout=3600)
    res = {**r["result"], "peak_rss_gib": r["peak_rss_mib"] / 1024, "load": machine_load()}
    res["plain_over_first"] = res["plain_pass_s"] / res["first_window_s"]
    res["first_over_floor"] = res["first_window_s"] / res["floor_s"]
    print(json.dumps(res, indent=1))
    (OUT / f"inference_{args.nodes}.json").write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
