"""Issue 14's figures (GPU simulation and training), each with its baseline measured in the
same run, and the same measures on the CPU of the same machine. ``benchmarks/gpu.sh`` runs
it; without a CUDA device only the CPU figures are printed.

1. Kuramoto right-hand side, float32, at 10^6 nodes / 10^7 entries and at ``--big`` nodes:
   the fused Triton kernel and torch's CSR SpMM (the previous CUDA path), each against
   the time to stream the CSR once at the device's copy bandwidth (target: Triton <= 4x).
2. End to end: ``--nodes`` nodes, ``--steps`` RK4 steps, 101 frames streamed to zarr, with
   the Triton backend (its RK4 steps between frames replayed as CUDA graphs, and without),
   the torch backend and (``--cpu-steps`` steps, scaled) the numba CPU path (target: <= 2 s
   on the GPU); each run's set-up, loop and drain; the stepping loop alone, with and
   without graphs.
3. A ROMA training step on a 512 x 16 random-walk subgraph of the ``--nodes`` graph,
   8 windows: milliseconds per step on the GPU and on the CPU (target: <= 10 ms), with
   the part spent building the batch on the host.
4. A full-graph forward pass on every node: seconds and peak GPU memory.
5. The Kuramoto RHS with the long-range term (issue 13) against the local one, per device,
   and the CUDA result against the CPU's.

    python -m benchmarks.bench_gpu [--nodes 1000000] [--big 10000000] [--steps 2000] [--quick]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks._util import machine_load
from benchmarks.bench_dynamics import copy_bandwidth, csr_bytes, median_ms

TARGET_FLOOR, TARGET_E2E_S, TARGET_STEP_MS = 4.0, 2.0, 10.0


def sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def rhs_times(graph, device: str, repeat: int, long_range: float = 0.0) -> dict:
    """Milliseconds per Kuramoto right-hand side of each backend on ``device`` (with the
    long-range term, s = 1.5, where ``long_range`` > 0), the largest difference between
    them, and the last backend's result (``"result"``, in the graph's order)."""
    from roma_core.dynamics.simulate import triton_ready
    from roma_core.dynamics.systems import make_system
    from roma_core.specs import KuramotoSpec

    spec = KuramotoSpec(coupling=5.0, schedule="constant", long_range=long_range, long_range_exponent=1.5)
    backends = ["numba"] if device == "cpu" else ["torch"] + (["triton"] if triton_ready() else [])
    out, results = {}, {}
    for backend in backends:
        sysm = make_system(spec, graph, torch.device(device), torch.float32, backend, 1.0)
        sysm.draw(np.random.default_rng(0), {})
        y = sysm.tensor(sysm.internal(sysm.inputs["initial"]))
        res = torch.empty_like(y)

        def call():
            sysm.rhs(0.5, y, res)
            sync(device)

        out[backend] = median_ms(call, repeat)
        results[backend] = sysm.external(res.cpu().numpy())
        del sysm, y, res
    if len(results) == 2:
        out["max_abs_diff"] = float(np.max(np.abs(results["torch"] - results["triton"])))
    out["result"] = results[backends[-1]]
    return out


def long_range_rhs(graph, devices: list[str], repeat: int) -> None:
    """The long-range Kuramoto RHS (K_lr = 1, s = 1.5, angular tree) against the local one,
    per device and backend (issue 13's target: <= 10x), and the GPU's result against the CPU's."""
    results = {}
    for device in devices:
        local = rhs_times(graph, device, repeat)
        full = rhs_times(graph, device, repeat, long_range=1.0)
        for backend in ("triton", "torch", "numba"):
            if backend in full:
                line(f"Kuramoto RHS + long-range term, {graph.num_nodes:.0e} nodes, f32, {device} {backend}",
                     f"{full[backend]:.3f} ms", f"local RHS {local[backend]:.3f} ms: "
                     f"{full[backend] / local[backend]:.1f}x", "<= 10x")
        results[device] = full["result"]
    if len(results) == 2:
        a, b = results.values()
        line("  long-range RHS, cuda against cpu: max |difference| / max |value|",
             f"{np.max(np.abs(a - b)) / np.max(np.abs(b)):.1e}")


def end_to_end(graph, steps: int, frames: int, device: str, backend: str, graphs: bool = True) -> float:
    """Seconds for ``steps`` RK4 steps streaming ``frames + 1`` frames to a zarr store."""
    return end_to_end_parts(graph, steps, frames, device, backend, graphs)["total"]


def end_to_end_parts(graph, steps: int, frames: int, device: str, backend: str, graphs: bool = True) -> dict:
    """:func:`end_to_end` (``graphs``: the RK4 steps between frames replayed as CUDA graphs
    where the run allows it) and its parts, from the run's progress calls: ``setup`` (to the
    first step: the system, the store's layout, the capture), ``loop`` (every step enqueued
    and every frame handed to the writer thread) and ``drain`` (the device's and the
    writer's last work, closing the store); ``final``: the last frame."""
    import importlib

    from roma_core.dynamics import Kuramoto, simulate

    sim_mod = importlib.import_module("roma_core.dynamics.simulate")
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    before = sim_mod.CUDA_GRAPHS
    sim_mod.CUDA_GRAPHS = graphs
    try:
        kw = dict(t_end=steps * 1e-3, dt=1e-3, save_every=max(1, steps // frames), device=device, backend=backend)
        simulate(Kuramoto(), graph, out=tmp / "warm.zarr", **{**kw, "t_end": 2e-3, "save_every": 1})   # warm up
        marks = {}

        def progress(done, total):
            marks.setdefault(done, time.perf_counter())

        start = time.perf_counter()
        ds = simulate(Kuramoto(), graph, out=tmp / "run.zarr", progress=progress, **kw)
        end = time.perf_counter()
        first, last = marks[0], marks[max(marks)]
        return {"total": end - start, "setup": first - start, "loop": last - first, "drain": end - last,
                "final": ds.state[-1].values}
    finally:
        sim_mod.CUDA_GRAPHS = before
        shutil.rmtree(tmp, ignore_errors=True)


def loop_seconds(graph, steps: int, save_every: int, graphs: bool, device: str = "cuda") -> tuple[float, float]:
    """Seconds for ``steps`` RK4 steps of the Kuramoto system on CUDA (triton) alone: no
    frames, no set-up; ``graphs``: replays of ``save_every`` steps as in :func:`end_to_end`.
    Also the seconds that building the graph took (coefficient table, warm-up, capture)."""
    import importlib

    from roma_core.dynamics import Kuramoto
    from roma_core.dynamics.integrate import RK4

    sim_mod = importlib.import_module("roma_core.dynamics.simulate")
    sim = sim_mod.simulation_spec(steps * 1e-3, 1e-3, save_every, 0, device, torch.float32, "auto")
    run = sim_mod.Run(Kuramoto(), graph, sim, torch.float32, backend="triton")
    sysm = run.system
    y = sysm.tensor(sysm.internal(sysm.inputs["initial"])).clone()
    before = sim_mod.CUDA_GRAPHS
    sim_mod.CUDA_GRAPHS = graphs
    try:
        sync(device)
        t = time.perf_counter()
        graphed = run.graphed(y)
        sync(device)
        capture = time.perf_counter() - t
    finally:
        sim_mod.CUDA_GRAPHS = before
    if graphs and graphed is None:
        return float("nan"), capture
    stepper = RK4(sysm.rhs, y, fused=True)
    stepper.step(0.0, y, 1e-3)                      # warm up
    sync(device)
    t = time.perf_counter()
    n = 0
    while n < steps:
        if graphed is not None:
            graphed.run(n)
            n += graphed.steps
        else:
            stepper.step(n * 1e-3, y, 1e-3)
            n += 1
    sync(device)
    return time.perf_counter() - t, capture


def writer_seconds(graph, steps: int, frames: int, device: str = "cuda") -> float:
    """Seconds to hand ``frames + 1`` frames of a ``steps``-step run (the state on
    ``device``) to the frame-writer thread and have them written to a zarr store, with no
    stepping between them: what the frames cost on their own."""
    import importlib

    from roma_core.data.stream import FrameWriter, ZarrSink, template
    from roma_core.data.trajectory import write_store
    from roma_core.dynamics import Kuramoto

    sim_mod = importlib.import_module("roma_core.dynamics.simulate")
    save_every = max(1, steps // frames)
    sim = sim_mod.simulation_spec(steps * 1e-3, 1e-3, save_every, 0, device, torch.float32, "auto")
    run = sim_mod.Run(Kuramoto(), graph, sim, torch.float32, backend="triton" if device == "cuda" else "numba")
    sysm = run.system
    y = sysm.tensor(sysm.internal(sysm.inputs["initial"])).clone()
    depth = 2 if y.device.type == "cpu" else max(2, min(16, sim_mod.FRAME_BYTES // (4 * y.numel())))
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    try:
        write_store(template(run), tmp / "run.zarr", run.graph, compute=False)
        sink = ZarrSink(tmp / "run.zarr", run)
        sync(device)
        t = time.perf_counter()
        with sim_mod.threads_for(run.work, sysm.backend), FrameWriter(sink, sysm, sim.dt, depth) as out:
            for i in range(len(run.times)):
                out.put(i, float(run.times[i]), y)
        sink.close()
        return time.perf_counter() - t
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def gpu_end_to_end(g, nodes: int, steps: int, frames: int) -> float:
    """Prints the end-to-end figures on CUDA (triton with and without CUDA graphs, torch;
    each run's parts; the stepping loop alone); returns the triton run's seconds with graphs."""
    runs = {name: end_to_end_parts(g, steps, frames, "cuda", "triton", graphs)
            for name, graphs in (("graphs", True), ("no graphs", False))}
    plain = end_to_end(g, steps, frames, "cuda", "torch")
    fused = runs["graphs"]["total"]
    e2e = f"end to end {nodes:.0e} nodes, {steps} RK4 steps, {frames + 1} frames, cuda triton"
    line(f"{e2e}, CUDA graphs", f"{fused:.2f} s", f"torch backend {plain:.2f} s: {plain / fused:.1f}x",
         f"<= {TARGET_E2E_S} s")
    line(f"{e2e}, no graphs", f"{runs['no graphs']['total']:.2f} s",
         f"graphs' speed-up {runs['no graphs']['total'] / fused:.2f}x")
    for name, r in runs.items():
        line(f"  {name}: set-up / loop (steps enqueued, frames handed over) / drain",
             f"{r['setup']:.2f} / {r['loop']:.2f} / {r['drain']:.2f} s")
    diff = float(np.max(np.abs(runs["graphs"]["final"] - runs["no graphs"]["final"])))
    line("  last frame, graphs vs no graphs: max |difference|", "bit-identical" if diff == 0 else f"{diff:.1e}")
    writer = writer_seconds(g, steps, frames)
    line(f"  the {frames + 1} frames alone (no steps): handed over, checked, written", f"{writer:.2f} s")
    save_every = max(1, steps // frames)
    (graphed, capture), (ungraphed, _) = (loop_seconds(g, steps, save_every, graphs) for graphs in (True, False))
    line(f"stepping loop alone, {steps} RK4 steps, cuda triton, CUDA graphs of {save_every}",
         f"{graphed:.3f} s", f"no graphs {ungraphed:.3f} s: {ungraphed / graphed:.2f}x")
    line("  per RK4 step (4 RHS evaluations)", f"{1e3 * graphed / steps:.3f} ms",
         f"no graphs {1e3 * ungraphed / steps:.3f} ms")
    line(f"  building the graph of {save_every} steps (table, warm-up, capture)", f"{1e3 * capture:.1f} ms")
    return fused


def training(graph, devices: list[str], steps: int, windows: int = 8, compiled: bool = False) -> dict:
    """Median ms per ROMA training step on random-walk subgraphs (512 roots x 16 steps) and
    the part of it spent building the batch, per variant: ``"<device> host"`` (numpy walk and
    gathers on the host, then copied), ``"<device> device"`` (the resident pipeline: walk,
    windows and encodings on the device) and ``"<device> device bf16"`` (the same under
    bfloat16 autocast); on CUDA also one forward pass over every node (seconds, peak GPU
    memory) and the kernels one resident step launches, with their summed time; ``compiled``:
    also the resident pipeline with the model under ``torch.compile(dynamic=True)`` (its
    compilation took 306 s on the loaded 2-CPU machine, so it is opt-in). One context serves every variant
    (the Laplacian encodings are computed once)."""
    import copy

    from benchmarks.bench_models import model_spec
    from roma_core.data.windows import Windows
    from roma_core.dynamics import KuramotoSpec, simulate
    from roma_core.models import build
    from roma_core.train.loop import Context, pick

    ds = simulate(KuramotoSpec(coupling=2.0, schedule="constant"), graph, t_end=0.6, dt=0.01, save_every=2,
                  seed=0, device=devices[0])
    spec = model_spec(channels=2)                   # the model of bench_models' runs (ROMA, hidden 32)
    w = Windows(graph, ds["state"].values, lookback=16, horizon=8, features="phase", val_fraction=0,
                test_fraction=0)
    del ds
    t = time.perf_counter()
    ctx = Context(w, spec, torch.device(devices[0]))
    print(f"  (training context, encodings and fields of {graph.num_nodes:,} nodes: "
          f"{time.perf_counter() - t:.1f} s)", flush=True)
    starts = w.starts("train")
    gpu = devices[0] == "cuda"
    variants = [(d, "host", False, False) for d in devices]
    variants += [(devices[0], "device", False, False), (devices[0], "device", True, False)] \
        if gpu or len(devices) == 1 else []
    if compiled:
        variants.append((devices[0], "device", False, True))
    out = {}
    for device, pipeline, bf16, comp in variants:
        dev = torch.device(device)
        c = ctx
        if device != devices[0]:
            c = copy.copy(ctx)
            c.device = dev
        if pipeline == "device" and not ctx.resident:
            if gpu:                                 # the full-graph pass before the tables move
                model = build("roma", spec).to(dev)
                torch.cuda.reset_peak_memory_stats()
                with torch.no_grad():
                    sync(device)
                    t0 = time.perf_counter()
                    model(ctx.batch(starts[:1]))
                    sync(device)
                out["forward_s"] = time.perf_counter() - t0
                out["forward_gib"] = torch.cuda.max_memory_allocated() / 2**30
                del model
            ctx.make_resident()
        torch.manual_seed(0)
        model = build("roma", spec).to(dev)
        net = torch.compile(model, dynamic=True) if comp else model
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, fused=dev.type == "cuda")
        rng, gen = np.random.default_rng(0), torch.Generator(dev).manual_seed(0)
        starts_t = torch.as_tensor(starts, device=dev)

        def step():
            if pipeline == "device":
                batch = c.batch(starts_t[pick(len(starts_t), windows, gen)], c.sampler.walk_tensor(gen))
            else:
                batch = c.batch(rng.choice(starts, windows), c.sampler.walk(rng))
            sync(device)
            t1 = time.perf_counter()
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                pred = net(batch)
            loss = ((pred.values.float() - batch.y) ** 2).mean() + sum(v.float() for v in pred.aux_losses.values())
            opt.zero_grad()
            loss.backward()
            opt.step()
            return t1, batch.num_nodes, loss

        total, assembly, sizes, losses = [], [], [], []
        name = f"{device} {pipeline}" + (" bf16" if bf16 else "") + (" compiled" if comp else "")
        try:
            if comp:                                # the compilation, timed apart
                t0 = time.perf_counter()
                step()
                sync(device)
                print(f"  (torch.compile(dynamic=True) and a first step: {time.perf_counter() - t0:.1f} s)",
                      flush=True)
            for _ in range(steps + 2):              # the first two warm up (allocator, kernels)
                sync(device)
                t0 = time.perf_counter()
                t1, n, loss = step()
                sync(device)
                total.append(time.perf_counter() - t0)
                assembly.append(t1 - t0)
                sizes.append(n)
                losses.append(float(loss.detach()))
        except Exception as e:                      # one failed variant must not sink the run
            print(f"  ({name} failed: {type(e).__name__}: {e})", flush=True)
            continue
        out[name] = {"step_ms": 1e3 * float(np.median(total[2:])), "batch_ms": 1e3 * float(np.median(assembly[2:])),
                     "subgraph_nodes": int(np.median(sizes)), "finite": bool(np.all(np.isfinite(losses)))}
        if gpu and pipeline == "device" and not bf16 and not comp:
            try:
                from torch.profiler import ProfilerActivity, profile

                with profile(activities=[ProfilerActivity.CUDA]) as prof:
                    step()
                    sync(device)
                kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
                out[name]["kernels"] = len(kernels)
                out[name]["busy_ms"] = sum(e.time_range.elapsed_us() for e in kernels) / 1e3
            except Exception as e:                  # a diagnostic only: never sink the run
                print(f"  (kernel count failed: {e})")
        del model, net, opt
    return out


def training_lines(step: dict) -> None:
    """Prints :func:`training`'s figures, each against the host pipeline of its device."""
    for name, r in step.items():
        if not isinstance(r, dict):
            continue
        device = name.split()[0]
        base = step.get(f"{device} host")
        ratio = "" if base is None or base is r else f"; {base['step_ms'] / r['step_ms']:.1f}x the host pipeline"
        line(f"ROMA training step, {r['subgraph_nodes']:,}-node walk subgraph, 8 windows, {name}",
             f"{r['step_ms']:.1f} ms", f"batch {r['batch_ms']:.1f} ms{ratio}" + ("" if r["finite"] else "; NOT FINITE"),
             f"<= {TARGET_STEP_MS} ms" if device == "cuda" else "")
        if "kernels" in r:
            line("  CUDA kernels (and copies) in one such step, and their time", f"{r['kernels']}",
                 f"GPU busy {r['busy_ms']:.1f} ms of the step (profiled)")
    if "cuda host" in step and "cpu host" in step:
        best = min(r["step_ms"] for k, r in step.items() if isinstance(r, dict) and k.startswith("cuda"))
        line("  GPU (best variant) speed-up over the CPU", f"{step['cpu host']['step_ms'] / best:.1f}x")
    if "forward_s" in step:
        line("full-graph forward pass, cuda", f"{step['forward_s']:.2f} s",
             f"peak GPU memory {step['forward_gib']:.2f} GiB", "report")


def huge_run(nodes: int, steps: int = 200, frames: int = 10, device: str = "cuda") -> None:
    """The 10^8-node run: generate the graph on the CPU's cores, then ``steps`` RK4 steps of
    Kuramoto on CUDA (default backend, CUDA graphs) with ``frames + 1`` frames streamed to a
    zarr store; prints the time of each part (as it goes, so that a time-out still tells the
    rate) and the peak GPU and host memory of this process."""
    import resource

    import numba

    from roma_core.graphs import hyperbolic_graph

    def rss() -> str:
        return f"host peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB"

    t = time.perf_counter()
    shown = set()

    def progress(done, total):
        q = int(10 * done / total)
        if q not in shown and q % 2 == 0:
            shown.add(q)
            print(f"  generating {nodes:,} nodes: {10 * q} % at {time.perf_counter() - t:.0f} s", flush=True)

    g = hyperbolic_graph(nodes, mean_degree=10, seed=0, progress=progress)
    gen = time.perf_counter() - t
    line(f"{nodes:.0e}-node graph generated ({numba.get_num_threads()} threads)", f"{gen:.1f} s",
         f"{g.nnz:,} entries; {rss()}")
    _huge_simulate(g, steps, frames, device, rss)


def _huge_simulate(g, steps, frames, device, rss) -> None:
    """The simulation part of :func:`huge_run` on a graph at hand."""
    import os

    from roma_core.dynamics import Kuramoto, simulate

    nodes = g.num_nodes
    tmp = Path(tempfile.mkdtemp(prefix="bench_gpu_huge_", dir=os.environ.get("GPU_BIG_DIR")))
    try:
        gpu = device == "cuda"
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        marks = {}

        def mark(done, total):
            if done not in marks:
                marks[done] = time.perf_counter()
                if done == 0:
                    print(f"  set-up done at {marks[0] - t0:.1f} s", flush=True)

        t0 = time.perf_counter()
        simulate(Kuramoto(), g, out=tmp / "huge.zarr", t_end=steps * 1e-3, dt=1e-3, save_every=max(1, steps // frames),
                 device=device, progress=mark)
        end = time.perf_counter()
        first, last = marks[0], marks[max(marks)]
        size = sum(f.stat().st_size for f in (tmp / "huge.zarr").rglob("*") if f.is_file())
        line(f"{nodes:.0e} nodes, {steps} RK4 steps, {frames + 1} frames to zarr, {device}", f"{end - t0:.1f} s",
             f"set-up {first - t0:.1f} / loop {last - first:.1f} / drain {end - last:.1f} s", "report")
        line("  per RK4 step in the loop (frames handed over included)", f"{1e3 * (last - first) / steps:.1f} ms")
        line("  peak GPU memory / host", f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB" if gpu else "-",
             rss())
        line("  store on disk", f"{size / 2**30:.2f} GiB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def rhs_lines(graph, devices: list[str], repeat: int) -> None:
    """Prints the Kuramoto RHS figures of :func:`rhs_times` per device, against the copy floor."""
    size = f"{graph.num_nodes:.0e} nodes / {graph.nnz:.0e} entries"
    for device in devices:
        floor = 1e3 * csr_bytes(graph) / copy_bandwidth(device)
        r = rhs_times(graph, device, repeat)
        for backend in ("triton", "torch", "numba"):
            if backend in r:
                line(f"Kuramoto RHS {size}, f32, {device} {backend}", f"{r[backend]:.3f} ms",
                     f"= {r[backend] / floor:.1f}x the copy floor {floor:.3f} ms",
                     f"<= {TARGET_FLOOR}x" if backend == "triton" else "")
        if "max_abs_diff" in r:
            line("  triton vs torch: max |difference|", f"{r['max_abs_diff']:.1e}")
        if "triton" in r:
            line("  triton speed-up over torch's SpMM", f"{r['torch'] / r['triton']:.1f}x")
        sync(device)


def line(what: str, value: str, baseline: str = "", target: str = "") -> None:
    print(f"{what:<58} {value:>22}  {baseline:<44} {target}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--big", type=int, default=10_000_000, help="nodes of the second RHS graph (0: skip)")
    ap.add_argument("--steps", type=int, default=2000, help="RK4 steps end to end on the GPU")
    ap.add_argument("--cpu-steps", type=int, default=200, help="RK4 steps end to end on the CPU (time scaled)")
    ap.add_argument("--train-steps", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--compile", action="store_true", help="also the training step under torch.compile")
    ap.add_argument("--huge", type=int, default=0,
                    help="only the huge run: a graph of this many nodes, 200 RK4 steps, 11 frames to zarr")
    ap.add_argument("--quick", action="store_true", help="small sizes: check that the script runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.nodes, args.big, args.steps, args.cpu_steps, args.train_steps, args.repeat = 20_000, 0, 100, 20, 1, 3
    if args.huge:
        print(f"# bench_gpu --huge {args.huge} ({machine_load()})", flush=True)
        if not torch.cuda.is_available():
            print("no CUDA device: the huge run needs one")
            return
        huge_run(args.huge)
        print(f"after: {machine_load()}")
        return

    from roma_core.cli.info import devices
    from roma_core.graphs import hyperbolic_graph

    gpu = torch.cuda.is_available()
    print(f"# bench_gpu ({machine_load()})\n{devices()}")
    if not gpu:
        print("no CUDA device: only the CPU figures follow")
    t = time.perf_counter()
    g = hyperbolic_graph(args.nodes, mean_degree=10, seed=0)
    print(f"graph: {g.num_nodes:,} nodes, {g.nnz:,} entries ({time.perf_counter() - t:.1f} s)\n")
    line("measure", "value", "baseline of the same run", "target")

    training_lines(training(g, (["cuda"] if gpu else []) + ["cpu"], args.train_steps, compiled=args.compile))
    print(flush=True)

    rhs_lines(g, (["cuda"] if gpu else []) + ["cpu"], args.repeat)

    print()
    long_range_rhs(g, (["cuda"] if gpu else []) + ["cpu"], args.repeat)

    frames = 100
    print()
    if gpu:
        from roma_core.dynamics.simulate import triton_ready

        fused = gpu_end_to_end(g, args.nodes, args.steps, frames) if triton_ready() else float("nan")
    cpu = end_to_end(g, args.cpu_steps, max(1, frames * args.cpu_steps // args.steps), "cpu", "numba")
    line(f"end to end on the CPU (numba), {args.cpu_steps} steps", f"{cpu:.2f} s",
         f"x {args.steps / args.cpu_steps:g} = {cpu * args.steps / args.cpu_steps:.1f} s for {args.steps} steps")
    if gpu:
        line("  GPU (triton) speed-up over the CPU, per step",
             f"{cpu / args.cpu_steps / (fused / args.steps):.1f}x")

    if args.big and gpu:
        print(flush=True)
        t = time.perf_counter()
        big = hyperbolic_graph(args.big, mean_degree=10, seed=0)
        print(f"graph: {args.big:,} nodes, {big.nnz:,} entries ({time.perf_counter() - t:.1f} s)")
        rhs_lines(big, ["cuda"], args.repeat)
    print(f"\nafter: {machine_load()}")


if __name__ == "__main__":
    main()
