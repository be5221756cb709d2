"""ROMA against its baselines, positive transfer, a scaling ladder, a 10^6-node training
step, and the cost of positional encodings. Each part prints its numbers and writes JSON
under ``$ROMA_BENCH_OUT`` (default /tmp/roma_bench_models).

    .venv/bin/python -m benchmarks.bench_models compare --dynamics kuramoto --nodes 20000 --budget 150
    .venv/bin/python -m benchmarks.bench_models transfer --dynamics kuramoto --nodes 20000 --budget 150
    .venv/bin/python -m benchmarks.bench_models scaling --nodes 20000 --sizes 4,12,24,48,72 --seeds 0,1 --patience 5
    .venv/bin/python -m benchmarks.bench_models datascaling --models roma,gnn --sizes 12 --graphs 1,2,4,8,16
    .venv/bin/python -m benchmarks.bench_models million [--nodes 1000000] [--steps 10]
    .venv/bin/python -m benchmarks.bench_models encodings [--nodes 1000000]
    .venv/bin/python -m benchmarks.bench_models oracle --nodes 20000   # floors: full and local equations, true or inferred ω
    .venv/bin/python -m benchmarks.bench_models compare --graph paper --nodes 200000   # the paper's graphs (largest component: 50,106 / 2,716 nodes)
    .venv/bin/python -m benchmarks.bench_models oracle --long-range 4 --exponent 1.5   # data with a power-law long-range term
    .venv/bin/python -m benchmarks.bench_models intervals --noise 0.02 --long-range 2 --exponent 1.5 \
        --train-graphs 8 --extra-spans all --heldout-graphs 4 --sizes 48 --seeds 0   # conformal coverage

Every learned model trains for the same wall-clock budget (``time_budget``) with one torch
thread, or for the same number of steps (``--train-steps``); widths are matched to ROMA's
parameter count (``match_width``); ``persistence`` is the floor and ``roma_fixed`` (ROMA on
the fixed geometric hierarchy) the ablation. Targets: ROMA test rel. L2 <= 0.85 x the best
baseline; every model beats persistence, also on a held-out graph (another seed;
``--heldout-graphs K`` scores K of them and reports their mean, since one graph can be an
outlier).
"""
from __future__ import annotations

import argparse
import os
import json
import shutil
import time
from pathlib import Path

from benchmarks._util import isolated, machine_load

OUT = Path(os.environ.get("ROMA_BENCH_OUT", "/tmp/roma_bench_models"))
BASELINES = ["transformer", "gnn", "deeponet", "gino"]
ABLATIONS = ["roma_fixed"]
SETUP = {"lookback": 16, "horizon": 8, "t_end": 0.0, "seed": 0, "noise": -1.0, "graph": "s1",
         "long_range": 0.0, "exponent": 1.0, "pos_dim": 8, "train_graphs": 1, "roma": {},
         "residual": "autograd", "extra_spans": "train", "heldout_graphs": 1}   # set in main()
# graphs: "s1" (<k> = 10, γ = 2.7, β = 2) or "paper" (the paper's: zero temperature, <k> = 3, γ = 3, largest component)
DEFAULT_T_END, DEFAULT_NOISE = {"kuramoto": 40.0, "burgers": 10.0}, {"kuramoto": 0.1, "burgers": 0.01}
GRAPHS = {"s1": dict(mean_degree=10), "paper": dict(mean_degree=3, gamma=3.0, beta=float("inf"), largest_component=True)}


def dataset(dynamics: str, nodes: int, seed: int) -> Path:
    """Simulate (once, cached under OUT) a trajectory on a graph of ``nodes`` nodes, with
    SETUP's graph family, length and noise."""
    from roma_core.dynamics import BurgersSpec, KuramotoSpec, simulate
    from roma_core.graphs import hyperbolic_graph

    t_end, noise = _length_and_noise(dynamics)
    path = OUT / f"{dynamics}_{nodes}_s{seed}{_data_tag(dynamics)}.zarr"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    g = hyperbolic_graph(nodes, seed=seed, **GRAPHS[SETUP["graph"]])
    lr = dict(long_range=SETUP["long_range"], long_range_exponent=SETUP["exponent"]) if SETUP["long_range"] else {}
    if dynamics == "kuramoto":   # modulated K(t), noise
        simulate(KuramotoSpec(noise=noise, **lr), g, t_end=t_end, dt=0.01, save_every=10, seed=seed, out=path)
    else:                        # graph Burgers: a steepening bump plus 20 bursts of activity; a frame every 0.05
        dt = 1e-3 if SETUP["graph"] == "s1" else 5e-4   # the paper's graphs have hubs with far more edges
        simulate(BurgersSpec(advection=3.0, initial="bump", initial_width=0.3, sources=20, source_width=0.3,
                             noise=noise, viscosity=1e-4, gap_floor=20, **lr), g, t_end=t_end, dt=dt,
                 save_every=round(0.05 / dt), seed=seed, out=path)
    return path


def _length_and_noise(dynamics: str) -> tuple[float, float]:
    """t_end and σ of the data: SETUP's, where given (t_end > 0, noise >= 0), else the defaults."""
    return (SETUP["t_end"] or DEFAULT_T_END[dynamics],
            DEFAULT_NOISE[dynamics] if SETUP["noise"] < 0 else SETUP["noise"])


def _graphs_tag() -> str:
    """Names training on several graphs, and on every window of the later ones."""
    if SETUP["train_graphs"] == 1:
        return ""
    return f"_g{SETUP['train_graphs']}" + ("_whole" if SETUP["extra_spans"] == "all" else "")


def _roma_tag() -> str:
    """Names ROMA's departures from its default spec (``--roma``)."""
    return "".join(f"_{k}-{v}" for k, v in sorted(SETUP["roma"].items()))


def _residual_tag(task: str) -> str:
    """Names the effective-dynamics residual where it departs from autograd."""
    return "" if task == "forecast" or SETUP["residual"] == "autograd" else f"_{SETUP['residual']}"


def _data_tag(dynamics: str) -> str:
    """Names the data's departures from the defaults: length, noise, graph family, long range."""
    t_end, noise = _length_and_noise(dynamics)
    return ("" if t_end == DEFAULT_T_END[dynamics] else f"_t{t_end:g}") + \
        ("" if noise == DEFAULT_NOISE[dynamics] else f"_n{noise:g}") + \
        ("" if SETUP["graph"] == "s1" else f"_{SETUP['graph']}") + \
        (f"_lr{SETUP['long_range']:g}s{SETUP['exponent']:g}" if SETUP["long_range"] else "")


def model_spec(**kw):
    from roma_core.specs import ModelSpec

    base = dict(lookback=SETUP["lookback"], horizon=SETUP["horizon"], hidden=32, heads=4, supernodes=64, levels=3, pos_dim=SETUP["pos_dim"], basis=32)
    return ModelSpec(**{**base, **kw})


def train_spec(budget, **kw):
    from roma_core.specs import TrainSpec

    # ~1,000-node random-walk subgraphs: many cheap steps fit the budget on a shared 2-core CPU
    base = dict(steps=100_000, time_budget=budget, windows=4, roots=128, walk_length=8, eval_every=0,
                checkpoint_every=100_000, device="cpu", threads=1, lr=3e-3, seed=SETUP["seed"],
                extra_spans=SETUP["extra_spans"])
    return TrainSpec(**{**base, **kw})


def _windows(data, spec, tspec, ref=None):
    from roma_core.train.data import load_windows

    if ref is None:
        return load_windows(data, spec, tspec)
    return load_windows(data, spec, tspec, features=ref.features, norm=ref.norm)


def train_seeds() -> list[int]:
    """Graph seeds of the training data: 1, then 3, 4, ... up to SETUP's ``train_graphs``
    (seed 2 is the held-out graph)."""
    return [1] + list(range(3, SETUP["train_graphs"] + 2))


def heldout_seeds() -> list[int]:
    """Graph seeds of the held-out graphs: 2, then the seeds after the training graphs' (with
    eight training graphs 10, 11, ...), up to SETUP's ``heldout_graphs``."""
    after = SETUP["train_graphs"] + 2
    return [2] + list(range(after, after + SETUP["heldout_graphs"] - 1))


def run_models(dynamics, nodes, budget, models, tasks, tag, steps=0):
    from roma_core.eval.evaluate import evaluate
    from roma_core.models import build, match_width, parameter_count
    from roma_core.specs import ModelSpec
    from roma_core.train import train

    data = dataset(dynamics, nodes, 1)
    spec = model_spec()
    tspec = train_spec(budget)
    win = _windows(data, spec, tspec)
    heldw = {k: _windows(dataset(dynamics, nodes, k), spec, tspec, ref=win) for k in heldout_seeds()}
    more = [_windows(dataset(dynamics, nodes, k), spec, tspec, ref=win) for k in train_seeds()[1:]]
    spec = ModelSpec.from_dict({**spec.to_dict(), "channels": win.channels})
    target = parameter_count(build("roma", spec))
    variant = ModelSpec.from_dict({**spec.to_dict(), **SETUP["roma"]})   # ROMA's and its ablation's spec
    rows = []
    for name, task in zip(models, tasks):
        roma = name in ("roma", "roma_fixed")
        s = variant if roma else spec if name == "persistence" else match_width(name, spec, target)
        run = OUT / (f"{tag}_{dynamics}_{nodes}{_data_tag(dynamics)}_L{SETUP['lookback']}H{SETUP['horizon']}"
                     f"s{SETUP['seed']}{f'_steps{steps}' if steps else ''}{_graphs_tag()}_{name}"
                     f"{_roma_tag() if roma else ''}_{task}{_residual_tag(task)}")
        shutil.rmtree(run, ignore_errors=True)   # every run trains from scratch
        t = time.perf_counter()
        residual = dict(residual=SETUP["residual"]) if task != "forecast" else {}
        ts = train_spec(0.0, task=task, steps=steps, **residual) if steps else train_spec(budget, task=task, **residual)
        res = train([win] + more, name, s, ts, run)
        wall = time.perf_counter() - t
        test = evaluate(run, None, windows=win, max_windows=16)
        val = evaluate(run, None, windows=win, split="val", max_windows=16, scales=False)   # the span before test
        ho = {k: evaluate(run, None, windows=w, max_windows=16, scales=False)["rel_l2"] for k, w in heldw.items()}
        row = {"model": name, "task": task, "params": res["params"], "hidden": s.hidden, "steps": res["steps"],
               "train_s": round(wall, 1), "test_rel_l2": test["rel_l2"], "val_rel_l2": val["rel_l2"],
               "heldout_rel_l2": sum(ho.values()) / len(ho), "heldout_per_graph": ho,
               "test_per_step": test["rel_l2_per_step"], "order_parameter_mae": test.get("order_parameter_mae"),
               "local_order_parameter_mae": {r["supernodes"]: r["mae"] for r in test.get("local_order_parameter_mae", [])},
               "attention": test["attention"].get("mean")}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def part_compare(args):
    names = ["persistence", "roma"] + [m for m in ABLATIONS + BASELINES if not args.models or m in args.models]
    baselines = [m for m in BASELINES if m in names]
    rows = run_models(args.dynamics, args.nodes, args.budget, names, ["forecast"] * len(names), "cmp",
                      steps=args.train_steps)
    by = {r["model"]: r for r in rows}
    best = min(baselines, key=lambda m: by[m]["test_rel_l2"])
    summary = {"dynamics": args.dynamics, "nodes": args.nodes, "budget_s": args.budget, "load": machine_load(),
               "equal_steps": args.train_steps, "train_graph_seeds": train_seeds(), "extra_spans": SETUP["extra_spans"],
               "heldout_graph_seeds": heldout_seeds(),
               "rows": rows, "best_baseline": best,
               "roma_over_best_test": by["roma"]["test_rel_l2"] / by[best]["test_rel_l2"],
               "roma_over_best_heldout": by["roma"]["heldout_rel_l2"] / min(by[m]["heldout_rel_l2"] for m in baselines),
               "all_beat_persistence_test": all(by[m]["test_rel_l2"] < by["persistence"]["test_rel_l2"]
                                                for m in ["roma"] + baselines),
               "all_beat_persistence_heldout": all(by[m]["heldout_rel_l2"] < by["persistence"]["heldout_rel_l2"]
                                                   for m in ["roma"] + baselines)}
    return summary


def part_transfer(args):
    rows = run_models(args.dynamics, args.nodes, args.budget, ["roma", "roma"], ["forecast", "both"], "tr",
                      steps=args.train_steps)
    return {"dynamics": args.dynamics, "nodes": args.nodes, "budget_s": args.budget, "load": machine_load(),
            "equal_steps": args.train_steps, "rows": rows,
            "both_over_forecast": rows[1]["test_rel_l2"] / rows[0]["test_rel_l2"],
            "both_over_forecast_heldout": rows[1]["heldout_rel_l2"] / rows[0]["heldout_rel_l2"]}


def _study(args, train, held):
    """What every scaling study shares: the windows of the training graphs ``train`` and the
    held-out graphs ``held`` (graph seeds; the first training graph gives the transform),
    the model spec, the step rule of ``--patience`` capped at ``--train-steps``, and the
    floors of ``--floors``."""
    from roma_core.specs import ModelSpec

    spec = model_spec()
    tspec = train_spec(0.0, steps=args.train_steps or 1200, eval_every=100, patience=args.patience)
    win = _windows(dataset(args.dynamics, args.nodes, train[0]), spec, tspec)
    more = [_windows(dataset(args.dynamics, args.nodes, k), spec, tspec, ref=win) for k in train[1:]]
    held = [_windows(dataset(args.dynamics, args.nodes, k), spec, tspec, ref=win) for k in held]
    spec = ModelSpec.from_dict({**spec.to_dict(), "channels": win.channels})
    floors = {k: float(v) for k, v in (item.split("=") for item in args.floors.split(",") if item)}
    return [win] + more, held, spec, tspec, floors


def _ladder_setup(args):
    """:func:`_study` of SETUP's training and held-out graphs, and the ladder's folder."""
    out = OUT / f"scaling_{args.dynamics}_{args.nodes}{_data_tag(args.dynamics)}{_graphs_tag()}"
    return (*_study(args, train_seeds(), heldout_seeds()), out)


def part_scaling(args):
    """Every model of ``--models`` at every ROMA width of ``--sizes`` (the others matched to
    ROMA's parameter count there) and every seed of ``--seeds``, on SETUP's training and
    held-out graphs; steps by the early-stopping rule (``--patience``, capped at
    ``--train-steps``); the laws fitted above the full-equation floors of ``--floors``."""
    from roma_core.eval.scaling import run_ladder

    train_windows, held, spec, tspec, floors, out = _ladder_setup(args)
    res = run_ladder(train_windows, args.models or ["roma"] + BASELINES, spec, tspec,
                     [int(s) for s in args.sizes.split(",")], [int(s) for s in args.seeds.split(",")], out,
                     heldout=held, floors=floors)
    return {"load": machine_load(), "out": str(out), **res}


def part_point(args):
    """The models of ``--models`` at one more ROMA width (``--sizes``, one value) and the seeds
    of ``--seeds``, with the ladder's data and rule, into the ladder's folder (a test of what
    its fitted laws predict beyond its sizes)."""
    from roma_core.eval.scaling import rungs, run_one
    from roma_core.specs import TrainSpec

    train_windows, held, spec, tspec, _, out = _ladder_setup(args)
    rows = []
    for width, name, s in rungs(args.models or ["roma"], spec, [int(args.sizes)]):
        for seed in [int(k) for k in args.seeds.split(",")]:
            ts = TrainSpec.from_dict({**tspec.to_dict(), "seed": seed})
            r = run_one(train_windows, name, s, ts, out / f"{name}_w{width}_s{seed}", heldout=held)
            rows.append({k: v for k, v in r.items() if not k.endswith(("_window", "_step", "_spec"))})
            print(json.dumps(rows[-1]), flush=True)
    return {"load": machine_load(), "out": str(out), "rows": rows}


def part_datascaling(args):
    """Data scaling at one size: every model of ``--models`` at ROMA's width ``--sizes`` (one
    width; the others matched to ROMA's count) trained on the first D graphs of a fixed
    sequence of 16 (seed 1, then 3–9, then 13–20: graph 2 and 10–12 stay held out whatever
    D is), for each D of ``--graphs``, with the scaling ladder's step rule; the error against
    D fitted as L_floor + b·D^(−β) (``fit_ladder`` with D in place of P)."""
    from roma_core.eval.scaling import _write_json, fit_ladder, rungs, run_one
    from roma_core.specs import TrainSpec

    counts = [int(k) for k in args.graphs.split(",")]
    order = [1] + list(range(3, 10)) + list(range(13, 21))
    if max(counts) > len(order):
        raise SystemExit(f"--graphs goes up to {len(order)} training graphs")
    graphs, held, spec, tspec, floors = _study(args, order[:max(counts)], (2, 10, 11, 12))
    out = OUT / f"datascaling_{args.dynamics}_{args.nodes}{_data_tag(args.dynamics)}_w{args.sizes}"
    runs = []
    for _, name, s in rungs(args.models, spec, [int(args.sizes)]):
        for d in counts:
            for seed in [int(k) for k in args.seeds.split(",")]:
                ts = TrainSpec.from_dict({**tspec.to_dict(), "seed": seed})
                r = run_one(graphs[:d], name, s, ts, out / f"{name}_g{d}_s{seed}", heldout=held)
                runs.append({**r, "rung": d, "params": d, "model_params": r["params"]})
                print(json.dumps({k: v for k, v in runs[-1].items() if not k.endswith(("_window", "_step", "_spec"))}),
                      flush=True)
                result = {"roma_kind": "datascaling", "models": args.models, "graphs": counts, "floors": floors,
                          "runs": runs, "fits": fit_ladder(runs, floors) if len({r["rung"] for r in runs}) >= 3 else {}}
                _write_json(out / "datascaling.json", result)
    return {"load": machine_load(), "out": str(out), **result}


def hop_kernel(graph, hops: int, kernel):
    """The long-range average restricted to each node's ``hops``-hop graph neighbourhood:
    the sparse row-stochastic matrix W_ij = K(d_ij) / Σ_{l ∈ N_k(i)} K(d_il) over the nodes
    j ≠ i within ``hops`` edges of i (Kac normalisation over the neighbourhood; a node with
    no neighbour gets a zero row), d the angular distance.

    Parameters
    ----------
    graph : roma_core.graphs.Graph
        A graph with node angles ``theta``.
    hops : int
        Graph distance, >= 1.
    kernel : callable
        K(d) for angular distances d in radians (e.g. ``LongRange.kernel``).

    Returns
    -------
    w : scipy.sparse.csr_matrix
        (N, N), float64, in the graph's node order.
    mass : np.ndarray
        (N,) Σ_{j ∈ N_k(i)} K(d_ij), the kernel's weight inside each neighbourhood.

    Raises
    ------
    ValueError
        For hops < 1 or a graph without angles.
    """
    import numpy as np
    import scipy.sparse as sp

    if int(hops) < 1:
        raise ValueError(f"hops must be >= 1, got {hops}")
    if graph.theta is None:
        raise ValueError("the neighbourhood kernel needs node angles (graph.theta)")
    n = graph.num_nodes
    a = sp.csr_matrix((np.ones(len(graph.indices), np.float32), graph.indices, graph.indptr), shape=(n, n))
    a = ((a + a.T + sp.identity(n, dtype=np.float32, format="csr")) > 0).astype(np.float32).tocsr()
    reach = a
    for _ in range(int(hops) - 1):
        reach = (reach @ a).tocsr()
        reach.data[:] = 1.0
    reach.setdiag(0.0)
    reach.eliminate_zeros()
    reach.sort_indices()
    theta = np.mod(np.asarray(graph.theta, np.float64), 2 * np.pi)
    data = np.empty(reach.nnz, np.float64)
    for lo in range(0, n, 2048):               # rows in chunks: bounded memory at 10^8 entries
        hi = min(n, lo + 2048)
        a0, a1 = reach.indptr[lo], reach.indptr[hi]
        rows = np.repeat(np.arange(lo, hi), np.diff(reach.indptr[lo:hi + 1]))
        d = np.abs(theta[reach.indices[a0:a1]] - theta[rows])
        data[a0:a1] = kernel(np.minimum(d, 2 * np.pi - d))
    w = sp.csr_matrix((data, reach.indices, reach.indptr), shape=(n, n))
    den = np.asarray(w.sum(axis=1)).ravel()
    return (sp.diags(np.divide(1.0, den, out=np.zeros(n), where=den > 0)) @ w).tocsr(), den


def oracle(path, split: str, *, omega: str = "inferred", local: bool = False, hops: int = 0, far: str = "drop",
           ref=None, windows: int = 16, device: str = "cpu") -> dict:
    """Relative L2 of a noise-free RK4 integration of the data's own equations from each
    window's last observed frame, on the windows ``evaluate`` scores (same features, same
    metric). ``local=True`` drops the long-range term (the floor of a forecaster that knows
    every local law but not the far field). ``hops=k`` (Kuramoto) keeps the long-range term
    but averages it over each node's k-hop graph neighbourhood only (:func:`hop_kernel`):
    the floor of a forecaster that sees k hops of the graph and knows every law; the result
    then also gives ``kernel_share``, the mean over nodes of the share of the full kernel's
    weight inside the neighbourhood. ``far="mean"`` gives the weight outside the
    neighbourhood (each node's full normalisation) to the whole graph's mean of (sin θ,
    cos θ) instead of dropping it: a forecaster that sees k hops plus the global order
    parameter (the phase gauge gives the models its angle). Kuramoto: ``omega="true"`` uses the stored ω (a
    floor no forecaster of this noisy data reaches); ``"inferred"`` estimates each ω_i from
    the window itself (phase advance minus the observed coupling drift, the drift's
    maximum-likelihood estimate under white noise), the information every model has.
    Burgers uses the stored sources and integrates every window at once (one column each,
    on ``device``: "cpu" or "cuda"). ``ref``: the training graph's windows (their
    standardisation), for a held-out graph."""
    import warnings

    import numpy as np
    import torch
    import zarr

    from roma_core.data import trajectory_graph
    from roma_core.data.windows import Windows
    from roma_core.dynamics.systems import make_system
    from roma_core.eval.metrics import relative_l2
    from roma_core.specs import BurgersSpec, KuramotoSpec

    torch.set_num_threads(1)
    z = zarr.open(str(path), mode="r")
    spec = json.loads(z.attrs["spec"])
    kind = KuramotoSpec if spec["kind"] == "KuramotoSpec" else BurgersSpec
    if local:
        spec["long_range"] = 0.0
    g = trajectory_graph(path)
    state, times = np.asarray(z["state"][:], np.float64), np.asarray(z["time"][:])
    dev = torch.device(device if kind is BurgersSpec else "cpu")
    sysm = make_system(kind.from_dict(spec), g, dev, torch.float64, "torch", float(times[-1]))
    given = {k: np.asarray(z[k][:], np.float64) for k in ("omega", "initial", "source_amplitude", "source_time")
             if k in z}
    sysm.draw(np.random.default_rng(0), given)
    share = None
    if hops:
        if kind is not KuramotoSpec or local or not spec.get("long_range") \
                or spec.get("long_range_distance", "angular") != "angular":
            raise ValueError("hops needs Kuramoto data with an angular long-range term, and local=False")
        full = sysm.long_range
        w, inside = hop_kernel(g, hops, full.kernel)
        share = float(np.mean(inside * full.inv_den.numpy()))
        with warnings.catch_warnings():      # torch flags CSR tensors as beta
            warnings.simplefilter("ignore", UserWarning)
            wt = torch.sparse_csr_tensor(torch.as_tensor(w.indptr, dtype=torch.int64),
                                         torch.as_tensor(w.indices, dtype=torch.int64), torch.as_tensor(w.data),
                                         size=w.shape)
        if far == "drop":
            sysm.long_range = lambda f: wt @ f
        elif far == "mean":
            a = torch.as_tensor(inside * full.inv_den.numpy())[:, None]     # kernel share inside, per node
            sysm.long_range = lambda f: a * (wt @ f) + (1 - a) * f.mean(0)
        else:
            raise ValueError(f"far must be 'drop' or 'mean', got {far!r}")
    win = Windows(g, state, lookback=SETUP["lookback"], horizon=SETUP["horizon"], times=times,
                  features="phase" if kind is KuramotoSpec else "identity",
                  norm=None if ref is None else ref.norm)
    starts = win.starts(split)
    starts = starts[np.unique(np.linspace(0, len(starts) - 1, min(windows, len(starts))).astype(int))]
    sim_dt = json.loads(z.attrs["simulation"])["dt"]
    sub = max(1, round((times[1] - times[0]) / sim_dt))
    h = (times[1] - times[0]) / sub
    out = torch.empty(g.num_nodes, dtype=torch.float64)

    def rhs(y, t):
        return sysm.rhs(t, y, out).clone()

    def next_frame(y, t):
        """``sub`` RK4 steps of size h: the state one frame later."""
        for _ in range(sub):
            k1 = rhs(y, t)
            k2 = rhs(y + h / 2 * k1, t + h / 2)
            k3 = rhs(y + h / 2 * k2, t + h / 2)
            k4 = rhs(y + h * k3, t + h)
            y, t = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4), t + h
        return y, t

    true_omega = getattr(sysm, "omega", None)
    preds = []
    if kind is BurgersSpec:     # all windows as the columns of one state, each at its own time
        last = starts + win.lookback - 1
        y = torch.as_tensor(state[last].T.copy(), device=dev)
        t = torch.as_tensor(times[last], device=dev)
        out = torch.empty_like(y)
        frames = []
        for _ in range(win.horizon):
            y, t = next_frame(y, t)
            frames.append(y.cpu().numpy().T)                                      # (windows, N)
        preds = [win.transform(f).transpose(1, 0, 2) for f in np.stack(frames, 1)]  # (N, horizon, C) each
    for s0 in starts if kind is KuramotoSpec else []:
        last = s0 + win.lookback - 1
        y, t = torch.as_tensor(state[last]), float(times[last])
        if kind is KuramotoSpec and omega == "inferred":
            sysm.omega = torch.zeros(g.num_nodes, dtype=torch.float64)
            frames = list(range(s0, last + 1))   # the coupling drift seen over the window, integrated
            seen = np.trapezoid([rhs(torch.as_tensor(state[f]), float(times[f])).numpy() for f in frames],
                                times[frames], axis=0)
            sysm.omega = torch.as_tensor((state[last] - state[s0] - seen) / (times[last] - times[s0]))
        elif kind is KuramotoSpec:
            sysm.omega = true_omega
        frames = []
        for _ in range(win.horizon):
            y, t = next_frame(y, t)
            frames.append(y.numpy().copy())
        preds.append(win.transform(np.stack(frames)).transpose(1, 0, 2))          # (N, horizon, C)
    _, target = win.get(starts)
    return {"split": split, "rel_l2": relative_l2(np.stack(preds), target), "windows": len(starts),
            "omega": omega if kind is KuramotoSpec else None, "local": local,
            **({"hops": hops, "far": far, "kernel_share": share} if hops else {})}


def part_oracle(args):
    """Floors on the test span of the training graph and on the held-out graph: the full
    equations and the local ones (no long-range term); Kuramoto with ω inferred from each
    window, and with the true ω. ``--hops 1,2``: also the k-hop neighbourhood floors (ω
    inferred), the floor of a model that sees k hops of the graph, with the weight outside
    dropped (Kac over the neighbourhood) or given to the global mean field."""
    data, held = dataset(args.dynamics, args.nodes, 1), dataset(args.dynamics, args.nodes, 2)
    ref = _windows(data, model_spec(), train_spec(0.0))      # the models' standardisation (Burgers)
    omegas = ("inferred", "true") if args.dynamics == "kuramoto" else ("stored",)
    if args.inferred_only:
        omegas = omegas[:1]
    hops = [int(k) for k in args.hops.split(",")] if args.hops else []
    res = {}
    for graph, path, split in (("test", data, "test"), ("heldout", held, "all")):
        for om in omegas:
            for local in (False, True):
                key = f"{graph}_{'local' if local else 'full'}_{om}"
                res[key] = oracle(path, split, omega=om, local=local, ref=ref, windows=args.windows,
                                  device=args.oracle_device)
                print(key, json.dumps(res[key]), flush=True)
        for k in hops:
            for far in ("drop", "mean"):
                key = f"{graph}_hops{k}{'' if far == 'drop' else 'mean'}_{omegas[0]}"
                res[key] = oracle(path, split, omega=omegas[0], hops=k, far=far, ref=ref, windows=args.windows)
                print(key, json.dumps(res[key]), flush=True)
    om = omegas[0]
    for k in heldout_seeds()[1:]:          # --heldout-graphs K: the full floor of each further held-out graph
        key = f"heldout{k}_full_{om}"
        res[key] = oracle(dataset(args.dynamics, args.nodes, k), "all", omega=om, ref=ref, windows=args.windows,
                          device=args.oracle_device)
        print(key, json.dumps(res[key]), flush=True)
    if len(heldout_seeds()) > 1:           # the floor of every held-out window, as the models are scored
        res[f"heldout_mean_full_{om}"] = sum(res[f"heldout{k}_full_{om}" if k != 2 else f"heldout_full_{om}"]["rel_l2"]
                                             for k in heldout_seeds()) / len(heldout_seeds())
    res["local_over_full"] = {g: res[f"{g}_local_{om}"]["rel_l2"] / res[f"{g}_full_{om}"]["rel_l2"]
                              for g in ("test", "heldout")}
    for k in [f"hops{k}{m}" for k in hops for m in ("", "mean")]:
        res[f"{k}_over_full"] = {g: res[f"{g}_{k}_{om}"]["rel_l2"] / res[f"{g}_full_{om}"]["rel_l2"]
                                 for g in ("test", "heldout")}
    print(json.dumps({k: v for k, v in res.items() if k.endswith("_over_full")}))
    return res


def million_step(nodes: int, steps: int) -> dict:
    """Graph, positional encodings, a short trajectory and ``steps`` sampled training steps
    (run in a fresh process so its peak RSS is its own)."""
    import numpy as np
    import torch

    from roma_core.data.windows import Windows
    from roma_core.dynamics import KuramotoSpec, simulate
    from roma_core.graphs import hyperbolic_graph
    from roma_core.models import build
    from roma_core.train.loop import Context

    torch.set_num_threads(1)
    out = {}
    t = time.perf_counter()
    g = hyperbolic_graph(nodes, mean_degree=10, seed=0)
    out["graph_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ds = simulate(KuramotoSpec(coupling=2.0, schedule="constant"), g, t_end=0.6, dt=0.01, save_every=2, seed=0,
                  device="cpu")
    out["simulate_s"] = time.perf_counter() - t
    spec = model_spec(lookback=16, horizon=8, channels=2)
    w = Windows(g, ds["state"].values, lookback=16, horizon=8, features="phase", val_fraction=0, test_fraction=0)
    del ds
    t = time.perf_counter()
    ctx = Context(w, spec, torch.device("cpu"))          # includes Laplacian PEs (multilevel)
    out["context_s"] = time.perf_counter() - t
    model = build("roma", spec)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    starts = w.starts("train")
    times, sizes = [], []
    for _ in range(steps):
        t = time.perf_counter()
        batch = ctx.batch(rng.choice(starts, 4), ctx.sampler.walk(rng))
        pred = model(batch)
        loss = ((pred.values - batch.y) ** 2).mean() + sum(pred.aux_losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
        sizes.append(batch.num_nodes)
    out.update(steps=steps, steps_per_s=1 / float(np.median(times)), subgraph_nodes=int(np.median(sizes)),
               nodes=nodes, edges=g.num_edges)
    return out


def pe_cost(nodes: int) -> dict:
    from roma_core.graphs import hyperbolic_graph
    from roma_core.models.encodings import laplacian_pe

    g = hyperbolic_graph(nodes, mean_degree=10, seed=0)
    t = time.perf_counter()
    laplacian_pe(g, 8, cache=False)
    return {"nodes": nodes, "k": 8, "seconds": time.perf_counter() - t}


def part_million(args):
    r = isolated("benchmarks.bench_models:million_step", args.nodes, args.steps, timeout=1800)
    res = {**r["result"], "peak_rss_gib": r["peak_rss_mib"] / 1024, "load": machine_load()}
    print(json.dumps(res))
    return res


def part_encodings(args):
    rows = []
    for n in (20_000, 100_000, args.nodes):
        r = isolated("benchmarks.bench_models:pe_cost", n, timeout=1800)
        rows.append({**r["result"], "peak_rss_gib": r["peak_rss_mib"] / 1024})
        print(json.dumps(rows[-1]), flush=True)
    return {"rows": rows, "ratio_last_to_100k": rows[-1]["seconds"] / rows[1]["seconds"], "load": machine_load()}


SHIPPED_HELDOUT = {"roma_kuramoto_2k": ("kuramoto_2k.zarr", 3000), "roma_kuramoto_lr_4k": ("kuramoto_lr_4k.zarr", 2500)}


def shipped_heldout(data: str, nodes: int) -> Path:
    """A new graph of a shipped trajectory's family (``nodes`` nodes, graph and dynamics seed
    101) with its dynamics spec, step, frame spacing and length (simulated once, cached
    under OUT): the held-out graph of RESULTS' 'shipped model on graphs it has never seen'."""
    import xarray as xr

    from roma_core.assets import asset_path
    from roma_core.dynamics import KuramotoSpec, simulate
    from roma_core.graphs import hyperbolic_graph
    from roma_core.specs import SimulationSpec

    path = OUT / f"heldout_{Path(data).stem}_{nodes}_s101.zarr"
    if path.exists():
        return path
    attrs = xr.open_zarr(str(asset_path(data)), consolidated=False).attrs
    spec, sim = KuramotoSpec.from_json(attrs["spec"]), SimulationSpec.from_json(attrs["simulation"])
    OUT.mkdir(parents=True, exist_ok=True)
    simulate(spec, hyperbolic_graph(nodes, mean_degree=10, seed=101), t_end=sim.t_end, dt=sim.dt,
             save_every=sim.save_every, seed=101, device="cpu", out=path)
    return path


def interval_rows(label, runs, data, heldout, level, windows) -> list[dict]:
    """Every model's split-conformal intervals on the test span of ``data`` and on each
    held-out trajectory, all calibrated on the validation span of ``data``.

    ``runs`` maps a model name to its run folder (``persistence`` to any run of the same
    windows). Returns one row per model and span: coverage and width at every level of
    ``intervals.LEVELS``, CRPS, rel. L2, and the per-step coverage at ``level``."""
    from roma_core.eval.evaluate import evaluate

    rows = []
    for model, run in runs.items():
        name = "persistence" if model == "persistence" else None
        for span, path in [("test", data)] + [(f"heldout:{Path(h).stem}", h) for h in heldout]:
            t0 = time.perf_counter()
            m = evaluate(run, path, max_windows=windows, model_name=name, scales=False, intervals=level,
                         calibration=data if span != "test" else None)
            iv = m["intervals"]
            rows.append({"data": label, "model": model, "span": span, "split": m["split"], "windows": m["windows"],
                         "nodes": m["nodes"], "rel_l2": m["rel_l2"], "crps": iv["crps"],
                         "coverage": {k: v["coverage"] for k, v in iv["levels"].items()},
                         "width": {k: v["width"] for k, v in iv["levels"].items()},
                         "coverage_per_step": iv["levels"][f"{level:g}"]["coverage_per_step"],
                         "crps_per_step": iv["crps_per_step"], "calibration_windows": iv["calibration_windows"],
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(json.dumps({k: v for k, v in rows[-1].items() if not k.endswith("_per_step")}), flush=True)
    return rows


def format_interval_table(rows, level: float) -> str:
    """The rows of :func:`interval_rows` as a markdown table: coverage at every level, the
    mean width at ``level`` and the CRPS (radians for phases); held-out graphs one row each."""
    from roma_core.eval.intervals import LEVELS

    head = ["data", "model", "span"] + [f"cov {lv:g}" for lv in LEVELS] + [f"width {level:g}", "CRPS", "rel. L2"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["data"], r["model"], r["span"]] + [f"{r['coverage'][f'{lv:g}']:.3f}" for lv in LEVELS] + \
            [f"{r['width'][f'{level:g}']:.3f}", f"{r['crps']:.4f}", f"{r['rel_l2']:.4f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def part_intervals(args):
    """Coverage of every model's split-conformal intervals (issue 32): the shipped runs (and
    persistence) on their test span and a new graph of their family; and the long-range
    ladder's models at ROMA width ``--sizes`` and seed ``--seeds`` (one each; trained by
    ``scaling``) on the test span of graph 1 and on the held-out graphs of SETUP. Calibrated
    on the validation span of the training graph; evaluation only."""
    import torch

    from roma_core.assets import asset_path

    torch.set_num_threads(1)
    level = 0.9
    rows = []
    for run, (data, nodes) in SHIPPED_HELDOUT.items():
        rows += interval_rows(f"shipped {Path(data).stem}", {"persistence": asset_path(run), "roma": asset_path(run)},
                              asset_path(data), [shipped_heldout(data, nodes)], level, args.windows)
    if SETUP["long_range"]:
        ladder = OUT / f"scaling_{args.dynamics}_{args.nodes}{_data_tag(args.dynamics)}{_graphs_tag()}"
        runs = {m: ladder / f"{m}_w{args.sizes}_s{args.seeds}" for m in ["roma"] + BASELINES}
        missing = [str(p) for p in runs.values() if not (p / "checkpoint.json").is_file()]
        if missing:
            raise SystemExit(f"no trained run in {', '.join(missing)}: train the ladder first (bench_models scaling "
                             "with the same data options), or give --sizes and --seeds of one of its runs")
        runs = {"persistence": runs["roma"], **runs}
        train = OUT / f"{args.dynamics}_{args.nodes}_s1{_data_tag(args.dynamics)}.zarr"
        held = [OUT / f"{args.dynamics}_{args.nodes}_s{k}{_data_tag(args.dynamics)}.zarr" for k in heldout_seeds()]
        rows += interval_rows(f"long-range N={args.nodes}", runs, train, held, level, args.windows)
    table = format_interval_table(rows, level)
    print(table)
    test = [r for r in rows if r["span"] == "test"]
    return {"load": machine_load(), "level": level, "windows": args.windows, "rows": rows, "table": table,
            "test_cov90_within_3_points": {f"{r['data']} {r['model']}": abs(r["coverage"]["0.9"] - 0.9) <= 0.03
                                           for r in test}}


def roma_options(text: str) -> dict:
    """``"near_frame=node,near_field=0"`` as ModelSpec values, each checked against the spec."""
    from roma_core.errors import SpecError
    from roma_core.specs import ModelSpec

    out = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or key not in ModelSpec.param or key == "name":
            raise ValueError(f"--roma takes key=value pairs of ModelSpec options, got {item!r}")
        cast = ModelSpec.text_type(key)
        if cast is bool:
            out[key] = value.lower() in ("1", "true", "yes", "on")
        else:
            try:
                out[key] = cast(value)
            except ValueError:
                raise ValueError(f"--roma {key} takes a {cast.__name__}, got {value!r}") from None
    try:
        ModelSpec(**out)
    except (SpecError, ValueError) as exc:
        raise ValueError(f"--roma {text!r}: {exc}") from exc
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["compare", "transfer", "scaling", "point", "datascaling", "million", "encodings",
                                     "oracle", "intervals"])
    ap.add_argument("--dynamics", default="kuramoto", choices=["kuramoto", "burgers"])
    ap.add_argument("--nodes", type=int, default=None)
    ap.add_argument("--budget", type=float, default=150.0, help="training seconds per model")
    ap.add_argument("--sizes", default="8,12,16,24,32,48")
    ap.add_argument("--steps", type=int, default=10, help="million: training steps to time")
    ap.add_argument("--train-steps", type=int, default=0,
                    help="compare/transfer/scaling: equal optimiser steps per model instead of --budget (0: budget)")
    ap.add_argument("--lookback", type=int, default=16, help="frames the models see")
    ap.add_argument("--horizon", type=int, default=8, help="frames they forecast")
    ap.add_argument("--t-end", type=float, default=0.0, help="trajectory length (0: Kuramoto 40, Burgers 10)")
    ap.add_argument("--seed", type=int, default=0, help="training seed (weights, sampling)")
    ap.add_argument("--noise", type=float, default=-1.0, help="dynamical noise σ (negative: Kuramoto 0.1, Burgers 0.01)")
    ap.add_argument("--graph", default="s1", choices=sorted(GRAPHS), help="graph family (GRAPHS)")
    ap.add_argument("--long-range", type=float, default=0.0,
                    help="strength of the power-law long-range term (K_lr or ν_lr; 0: graph coupling only)")
    ap.add_argument("--exponent", type=float, default=1.0, help="its exponent s (d^-s)")
    ap.add_argument("--hops", default="",
                    help="oracle: also the floors with the long-range sum over k-hop neighbourhoods, e.g. 1,2")
    ap.add_argument("--inferred-only", action="store_true", help="oracle: skip the true-ω floors")
    ap.add_argument("--windows", type=int, default=16, help="oracle, intervals: windows per graph")
    ap.add_argument("--oracle-device", default="cpu", help="oracle: where Burgers floors integrate (cpu, cuda)")
    ap.add_argument("--train-graphs", type=int, default=1,
                    help="compare/transfer: train on this many graphs of the family (seeds 1, 3, 4, ...; "
                         "seed 2 is the held-out graph)")
    ap.add_argument("--extra-spans", default="train", choices=["train", "all"],
                    help="compare/transfer: windows of the training graphs after the first: their train span, "
                         "or every window (TrainSpec.extra_spans)")
    ap.add_argument("--heldout-graphs", type=int, default=1,
                    help="compare/transfer: score this many held-out graphs (seed 2, then the seeds after the "
                         "training graphs'); heldout_rel_l2 is their mean")
    ap.add_argument("--models", default="",
                    help="compare: only these of the ablations and baselines, e.g. transformer,gnn "
                         "(persistence and roma always run; empty: all); scaling: the models of the ladder "
                         "(empty: roma and every baseline)")
    ap.add_argument("--seeds", default="0,1", help="scaling, datascaling: training seeds of every (model, size)")
    ap.add_argument("--graphs", default="1,2,4,8,16",
                    help="datascaling: numbers of training graphs (at most 16), at the one width of --sizes")
    ap.add_argument("--patience", type=int, default=4,
                    help="scaling, point, datascaling: stop a run once this many validation passes (every 100 "
                         "steps) in a row have "
                         "not lowered its best validation error by 1 %%; --train-steps caps it (default 1200)")
    ap.add_argument("--floors", default="",
                    help="scaling: the full-equation floors the laws are fitted above, e.g. "
                         "test=0.00813,heldout=0.0123 (bench_models oracle; empty: 0)")
    ap.add_argument("--pos-dim", type=int, default=8,
                    help="Laplacian positional encodings per node (0: none; they do not carry over between graphs)")
    ap.add_argument("--residual", default="autograd", choices=["autograd", "stencil"],
                    help="transfer: the effective-dynamics residual of the 'both' run (TrainSpec.residual)")
    ap.add_argument("--roma", default="",
                    help="compare: spec options of ROMA and its ablation only, e.g. near_frame=node,near_field=0 "
                         "(the baselines keep the width matched to the default ROMA)")
    args = ap.parse_args(argv)
    try:
        roma = roma_options(args.roma)
    except ValueError as exc:
        ap.error(str(exc))
    SETUP.update(roma=roma, lookback=args.lookback, horizon=args.horizon, t_end=args.t_end, seed=args.seed, noise=args.noise,
                 graph=args.graph, long_range=args.long_range, exponent=args.exponent, pos_dim=args.pos_dim,
                 train_graphs=args.train_graphs, residual=args.residual, extra_spans=args.extra_spans,
                 heldout_graphs=args.heldout_graphs)
    args.models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(args.models) - set(ABLATIONS + BASELINES + ["roma"]))
    if args.part in ("scaling", "point", "datascaling") and unknown:
        ap.error(f"--models takes a comma list of {['roma'] + ABLATIONS + BASELINES}, got {unknown}")
    if args.part not in ("scaling", "point", "datascaling") and (unknown or (args.models and not set(args.models) & set(BASELINES))):
        ap.error(f"--models takes a comma list of {ABLATIONS + BASELINES} with at least one baseline, got {unknown or args.models}")
    if args.part == "intervals" and not (args.sizes.isdigit() and args.seeds.isdigit()):
        ap.error(f"intervals scores one run per model: give one --sizes width and one --seeds seed, got "
                 f"{args.sizes!r} and {args.seeds!r}")
    if args.train_graphs < 1:
        ap.error(f"--train-graphs must be >= 1, got {args.train_graphs}")
    if args.heldout_graphs < 1:
        ap.error(f"--heldout-graphs must be >= 1, got {args.heldout_graphs}")
    if args.nodes is None:
        args.nodes = 1_000_000 if args.part in ("million", "encodings") else 20_000
    print(machine_load(), flush=True)
    res = globals()[f"part_{args.part}"](args)
    OUT.mkdir(parents=True, exist_ok=True)
    window = "" if (args.lookback, args.horizon) == (16, 8) else f"_L{args.lookback}H{args.horizon}"
    tags = (f"_seed{args.seed}" if args.seed else "") + _data_tag(args.dynamics) + \
        ("" if args.pos_dim == 8 else f"_pe{args.pos_dim}") + _graphs_tag() + \
        (f"_h{args.heldout_graphs}" if args.heldout_graphs > 1 else "") + \
        (f"_hops{args.hops.replace(',', '-')}" if args.part == "oracle" and args.hops else "") + \
        ("_" + "-".join(args.models) if args.part == "compare" and args.models else "") + \
        (_roma_tag() if args.part == "compare" else "") + (_residual_tag("both") if args.part == "transfer" else "")
    name = f"{args.part}_{args.dynamics}_{args.nodes}{window}{tags}{f'_steps{args.train_steps}' if args.train_steps else ''}.json"
    (OUT / name).write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ("rows", "points")}, indent=1))


if __name__ == "__main__":
    main()
