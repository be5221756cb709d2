"""``roma simulate kuramoto|burgers``: integrate dynamics on a stored or generated graph
into a zarr trajectory store (one run, or an ensemble on Dask)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import SpecError
from ..progress import tqdm_progress
from ..specs import BurgersSpec, GraphSpec, KuramotoSpec, SimulationSpec

EPILOG = """examples:
  roma simulate kuramoto --nodes 100000 --mean-degree 10 --t-end 20 --dt 1e-3 --save-every 100 --out run.zarr
  roma simulate kuramoto --graph g.npz --schedule constant --coupling 2 --noise 0.1 --out noisy.zarr
  roma simulate burgers --graph g.npz --viscosity 1e-6 --sources 20 --t-end 5 --dt 1e-4 --out social.zarr
  roma simulate kuramoto --graph g.npz --t-end 5 --members 8 --scheduler local --out ensemble.zarr
  roma info run.zarr"""

DYNAMICS = {"kuramoto": (KuramotoSpec, "Kuramoto oscillators (docs/science.md §2.1)"),
            "burgers": (BurgersSpec, "Burgers-like social dynamics on the S1 graph (docs/science.md §2.2)")}


def register(subparsers) -> None:
    """Add the ``roma simulate`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    parser = subparsers.add_parser(
        "simulate", help="simulate Kuramoto or Burgers-like dynamics on a graph",
        description="Integrate dynamics on a graph and write a trajectory store (zarr; graph included).",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="dynamics", required=True, metavar="DYNAMICS")
    for name, (spec_cls, doc) in DYNAMICS.items():
        p = sub.add_parser(name, help=doc, description=f"Simulate {doc} and write a trajectory store.",
                           epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        _graph_arguments(p)
        spec_cls.add_arguments(p.add_argument_group(f"{name} parameters"))
        sim = p.add_argument_group("integration")
        SimulationSpec.add_arguments(sim)
        sim.add_argument("--scheduler", default="local",
                         help="with --members > 1: a Dask scheduler address, or 'local' for a LocalCluster "
                              "of processes (default: local)")
        out = p.add_argument_group("output")
        out.add_argument("--out", type=Path, required=True, help="the trajectory store to write (.zarr)")
        out.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
        p.set_defaults(func=_run, spec_cls=spec_cls)


def _graph_arguments(p) -> None:
    g = p.add_argument_group("graph (give --graph, or --nodes to generate an S1/H2 graph)")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--graph", type=Path, help="a stored graph (.npz or .zarr)")
    src.add_argument("--nodes", type=int, help="generate a hyperbolic graph with this many nodes")
    GraphSpec.add_arguments(g, skip=("nodes", "seed"))
    g.add_argument("--graph-seed", type=int, default=0, help="seed of the generated graph (default: 0)")


def _graph(args):
    from ..graphs import Graph, hyperbolic_graph

    if args.graph is not None:
        return Graph.load(args.graph)
    given = {n: getattr(args, n) for n in ("mean_degree", "gamma", "beta", "largest_component")
             if getattr(args, n) is not None}
    spec = GraphSpec.from_dict(given | {"nodes": args.nodes, "seed": args.graph_seed})
    with tqdm_progress("graph", unit="node") as bar:
        return hyperbolic_graph(spec.nodes, spec.mean_degree, spec.gamma, spec.beta, spec.seed,
                                spec.largest_component, progress=bar)


def _run(args) -> int:
    from ..data import describe
    from ..dynamics import simulate, simulate_ensemble

    if args.out.suffix != ".zarr":
        raise SpecError(f"{args.out}: --out must be a .zarr store")
    spec = args.spec_cls.from_args(args)
    sim = SimulationSpec.from_args(args)
    graph = _graph(args)
    common = dict(t_end=sim.t_end, dt=sim.dt, save_every=sim.save_every, seed=sim.seed, device=sim.device,
                  dtype=sim.dtype, method=sim.method, out=args.out, overwrite=args.overwrite)
    if sim.members > 1:
        with tqdm_progress(f"{args.dynamics} ×{sim.members}", unit="member") as bar:
            simulate_ensemble(spec, graph, members=sim.members, client=args.scheduler, progress=bar, **common)
    else:
        with tqdm_progress(args.dynamics, unit="step") as bar:
            simulate(spec, graph, progress=bar, **common)
    print(describe(args.out))
    return 0
