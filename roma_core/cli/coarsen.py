"""``roma coarsen geometric|laplacian``: build a renormalization hierarchy from a graph file."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import FileFormatError, HierarchyError

EPILOG = """examples:
  roma graph hyperbolic --nodes 100000 --out g.npz
  roma coarsen geometric --graph g.npz --levels 5 --block 2 --out h.npz
  roma coarsen laplacian --graph g.npz --levels 3 --reduction 2 --out h.npz
  roma coarsen laplacian --graph g.npz --levels 1 --tau 0.5 --out traj.zarr --name lrg
  roma info h.npz

The output is a .npz file, or a .zarr store (e.g. a trajectory store: the hierarchy goes
under hierarchy/<name>, reusing the store's graph when it is the same graph)."""


def register(sub) -> None:
    """Add the ``roma coarsen`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = sub.add_parser("coarsen", help="build a renormalization hierarchy (geometric or Laplacian RG)",
                       description="Coarse-grain a graph level by level into a hierarchy of supernodes: "
                                   "geometric RG (blocks of consecutive angles, needs S1 coordinates or --embed) "
                                   "or Laplacian RG (neighbours whose heat profiles are alike at diffusion time "
                                   "tau merge, about --reduction times fewer nodes per level).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=["geometric", "laplacian"], help="renormalization method")
    p.add_argument("--graph", required=True, help="input graph (.npz or .zarr written by roma)")
    p.add_argument("--out", required=True, help="output .npz file or .zarr store")
    p.add_argument("--name", default=None, help="name of the hierarchy inside a .zarr store (default: the method)")
    p.add_argument("--levels", type=int, default=None,
                   help="coarsening steps (default: until the top level has fewer than --min-nodes nodes)")
    p.add_argument("--min-nodes", type=int, default=16, help="automatic levels stop below this many nodes (default: 16)")
    g = p.add_argument_group("geometric RG")
    g.add_argument("--block", type=int, default=2, help="consecutive nodes (by angle) per supernode (default: 2)")
    g.add_argument("--embed", action="store_true",
                   help="graphs without coordinates: embed them in the hyperbolic plane first (roma graph embed)")
    l = p.add_argument_group("Laplacian RG")
    l.add_argument("--tau", type=float, default=None,
                   help="diffusion time tau* > 0 for every level (default: chosen per level by --rule)")
    l.add_argument("--reduction", type=float, default=None,
                   help="N_l / N_(l+1) per level, > 1 (default: 2)")
    l.add_argument("--rule", choices=["modes", "max", "half"], default="modes",
                   help="tau* where N_l / reduction diffusion modes are left (modes, default), at the "
                        "specific-heat peak (max) or where C(tau) has fallen to half of it (half)")
    l.add_argument("--criterion", choices=["auto", "exact", "sketch"], default="auto",
                   help="heat similarity: exact (small graphs) or random-feature sketch (default: auto)")
    l.add_argument("--features", type=int, default=64, help="random features of the sketch criterion (default: 64)")
    l.add_argument("--seed", type=int, default=0, help="random seed of stochastic estimators (default: 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``roma coarsen`` with the parsed command line.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0).

    Raises
    ------
    RomaError
        For bad input (unknown output suffix, options of the other method, an unreadable graph); :func:`roma_core.cli.main` prints it and exits with 2.
    """
    from ..graphs import Graph
    from ..progress import tqdm_progress
    from ..renorm import geometric, laplacian

    graph_path, out = Path(args.graph), Path(args.out)
    if out.suffix not in (".npz", ".zarr"):
        raise FileFormatError(f"{out}: --out must end in .npz or .zarr")
    if args.method == "geometric" and (args.tau is not None or args.reduction is not None):
        raise HierarchyError("--tau/--reduction belong to the Laplacian RG; the geometric RG takes --block")
    if args.method == "laplacian" and args.block != 2:
        raise HierarchyError("--block belongs to the geometric RG; the Laplacian RG takes --tau or --reduction")
    start = time.perf_counter()
    graph = Graph.load(graph_path)
    with tqdm_progress(f"coarsen {args.method}", unit="level", disable=True if args.quiet else None) as bar:
        if args.method == "geometric":
            h = geometric(graph, block=args.block, levels=args.levels, min_nodes=args.min_nodes,
                          embed=args.embed, progress=bar)
        else:
            reduction = 2.0 if args.reduction is None else args.reduction
            h = laplacian(graph, tau=args.tau, levels=args.levels, reduction=reduction, rule=args.rule,
                          min_nodes=args.min_nodes, method=args.criterion, features=args.features,
                          seed=args.seed, progress=bar)
    h.save(out, name=args.name)
    if not args.quiet:
        print(h.describe(), file=sys.stderr)
        print(f"wrote {out} in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return 0
