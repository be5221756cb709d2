"""``roma graph``: generate (hyperbolic), import (load), embed and summarise (info) graphs."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import FileFormatError
from ..progress import tqdm_progress
from ..specs import GraphSpec

EPILOG = """examples:
  roma graph hyperbolic --nodes 1000000 --mean-degree 10 --gamma 2.7 --beta 2 --seed 0 --out g.npz
  roma graph hyperbolic --nodes 100000 --mean-degree 3 --gamma 3 --beta inf --largest-component --out h2.npz
  roma graph load edges.csv --out g.npz
  roma graph embed g.npz --out embedded.npz
  roma graph info g.npz"""


def register(subparsers) -> None:
    """Add the ``roma graph`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    parser = subparsers.add_parser(
        "graph", help="generate, import and summarise graphs",
        description="Generate S1/H2 hyperbolic graphs, import edge lists, and summarise stored graphs.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="graph_command", required=True, metavar="ACTION")

    gen = sub.add_parser("hyperbolic", help="sample an S1/H2 hyperbolic graph",
                         description="Sample an S1/H2 hyperbolic graph (docs/science.md §1) and save it with its "
                                     "node coordinates (theta, kappa, radius). '--beta inf' gives the "
                                     "zero-temperature H2 model.")
    GraphSpec.add_arguments(gen)
    _add_out(gen)
    gen.set_defaults(func=_hyperbolic)

    load = sub.add_parser("load", help="import an edge list (CSV/TSV/text/Parquet)",
                          description="Import an edge list: text with one 'src dst [weight]' per line "
                                      "(comma, tab, semicolon or whitespace; '#' comments; optional header; "
                                      ".gz accepted) or Parquet (columns src, dst[, weight] or the first "
                                      "2-3 columns). Self-loops and duplicate edges are dropped.")
    load.add_argument("edges", type=Path, help="the edge-list file")
    load.add_argument("--delimiter", default=None,
                      help="field separator, e.g. ',' or 'tab' or 'whitespace' (default: sniffed from the "
                           "first data line)")
    load.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                      help="whether the first data line is a header (default: detected: a header's first "
                           "field is not a number)")
    load.add_argument("--weighted", action=argparse.BooleanOptionalAction, default=None,
                      help="use the third column as edge weights (default: when there is a third column)")
    load.add_argument("--directed", action="store_true", help="keep edge direction (default: undirected)")
    load.add_argument("--relabel", choices=["auto", "always", "never"], default="auto",
                      help="node ids: 'auto' keeps them when dense (at least half of 0..max occur) and "
                           "otherwise relabels them 0..n-1 in increasing order (default: auto)")
    load.add_argument("--ids-out", type=Path, default=None,
                      help="also write the original id of every node (a .npy array) to this path")
    _add_out(load)
    load.set_defaults(func=_load)

    emb = sub.add_parser("embed", help="infer S1/H2 coordinates for a graph that has none",
                         description="Embed a graph in the hyperbolic plane: hidden degrees from the degrees, "
                                     "beta from the mean clustering, angles from Laplacian eigenmaps refined by "
                                     "maximising the S1 likelihood. Writes the graph with theta, kappa, radius "
                                     "(and beta, mu in its metadata).")
    emb.add_argument("graph", type=Path, help="a graph saved as .npz or in a .zarr store (e.g. by 'roma graph load')")
    emb.add_argument("--beta", type=float, default=None,
                     help="fix the inverse temperature (> 1) instead of fitting it to the clustering")
    emb.add_argument("--rounds", type=int, default=2, help="likelihood-refinement passes over all nodes (default: 2)")
    emb.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    _add_out(emb)
    emb.set_defaults(func=_embed)

    info = sub.add_parser("info", help="summarise a stored graph",
                          description="Print nodes, edges, degree stats (min/mean/max), connected "
                                      "components, coordinates and the structural fingerprint.")
    info.add_argument("path", type=Path, help="a graph saved as .npz or in a .zarr store")
    info.set_defaults(func=_info)


def _add_out(parser) -> None:
    parser.add_argument("--out", type=Path, required=True,
                        help="where to write the graph: a .npz file or a .zarr store (written atomically)")


def _check_out(path: Path) -> None:
    if path.suffix not in (".npz", ".zarr"):
        raise FileFormatError(f"{path}: --out must end in .npz or .zarr")
    if not path.parent.is_dir():
        raise FileFormatError(f"{path}: the folder {path.parent} does not exist")


def _save(graph, path: Path) -> None:
    with tqdm_progress(f"writing {path.name}", unit="file") as bar:
        bar(0, 1)
        graph.save(path)
        bar(1, 1)


def _hyperbolic(args) -> int:
    from ..graphs import hyperbolic_graph

    _check_out(args.out)
    spec = GraphSpec.from_args(args)
    start = time.perf_counter()
    with tqdm_progress("sampling hyperbolic graph", unit="node") as bar:
        graph = hyperbolic_graph(spec.nodes, spec.mean_degree, spec.gamma, spec.beta, spec.seed,
                                 spec.largest_component, progress=lambda done, total: bar(done / 2, total / 2))
    took = time.perf_counter() - start
    _save(graph, args.out)
    mean = 2 * graph.num_edges / max(graph.num_nodes, 1)
    print(f"{graph.num_nodes} nodes, {graph.num_edges} edges (mean degree {mean:.3f}) in {took:.1f} s "
          f"-> {args.out}  fingerprint {graph.fingerprint()}")
    return 0


def _load(args) -> int:
    import numpy as np

    from ..graphs import read_edgelist

    _check_out(args.out)
    delimiter = {"tab": "\t", "\\t": "\t", "comma": ",", "space": "whitespace"}.get(args.delimiter, args.delimiter)
    unit = "row" if args.edges.suffix.lower() in (".parquet", ".pq") else "B"
    with tqdm_progress(f"reading {args.edges.name}", unit=unit) as bar:
        graph, ids = read_edgelist(args.edges, delimiter=delimiter, header=args.header, weighted=args.weighted,
                                   directed=args.directed, relabel=args.relabel, progress=bar, return_ids=True)
    _save(graph, args.out)
    m = graph.meta
    print(f"{graph.num_nodes} nodes, {graph.num_edges} edges from {m['rows']} rows "
          f"({m['self_loops_dropped']} self-loops, {m['duplicates_dropped']} duplicates dropped; "
          f"ids {'relabelled 0..n-1' if m['relabelled'] else 'kept'}) -> {args.out}")
    if args.ids_out is not None:
        np.save(args.ids_out, ids)
        print(f"original node ids -> {args.ids_out}")
    elif m["relabelled"]:
        print("note: node ids were relabelled; pass --ids-out ids.npy to keep the original ids", file=sys.stderr)
    return 0


def _embed(args) -> int:
    from ..graphs import Graph, embed

    _check_out(args.out)
    graph = Graph.load(args.graph)
    start = time.perf_counter()
    with tqdm_progress(f"embedding {args.graph.name}", unit="node") as bar:
        out = embed(graph, beta=args.beta, rounds=args.rounds, seed=args.seed, progress=bar)
    took = time.perf_counter() - start
    _save(out, args.out)
    e = out.meta["embedding"]
    print(f"{out.num_nodes} nodes embedded in {took:.1f} s: beta {out.meta['beta']:.3f} "
          f"({'fitted' if e['beta_fitted'] else 'given'}; mean clustering {e['mean_clustering']:.3f}, "
          f"model {e['model_clustering']:.3f}), mu {out.meta['mu']:.4g} -> {args.out}")
    return 0


def _info(args) -> int:
    from ..graphs.graph import describe

    if args.path.is_file() and args.path.suffix != ".npz":
        raise FileFormatError(f"{args.path}: not a saved graph (expected .npz or .zarr); "
                              f"to import an edge list use: roma graph load {args.path} --out g.npz")
    print(describe(args.path))
    return 0
