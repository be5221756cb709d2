"""Building hierarchies for the view: geometric RG, Laplacian RG (with its diffusion
profiles) and a trained run's learned hierarchy, each cached and shared by sessions, and
the background job that also prepares the hierarchy graph's rendering data."""
from __future__ import annotations

from pathlib import Path

from roma_core.errors import HierarchyError
from roma_core.graphs import Graph
from roma_core.progress import report
from roma_core.renorm import Hierarchy, diffusion_profile, geometric, laplacian

from ... import render
from ...cache import SharedCache

METHODS = ("GRG", "LRG", "learned")
TAU_MODES = ("N/r modes", "C(τ) peak", "fixed τ")
CRITERIA = ("auto", "exact", "sketch")
CACHE_SIZE = 6

_CACHE = SharedCache(CACHE_SIZE)


def build_geometric(graph: Graph, block: int = 2, levels: int = 0, progress=None) -> Hierarchy:
    """GRG hierarchy, cached and shared by sessions.

    Parameters
    ----------
    graph : Graph
        The graph to coarsen (embedded first when it has no angles).
    block : int
        Nodes merged per supernode along the circle.
    levels : int
        Coarsening levels; 0: down to about 16 supernodes.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    Hierarchy
    """
    return _CACHE.get_or_compute(("grg", graph.fingerprint(), int(block), int(levels)),
                   lambda: geometric(graph, block=int(block), levels=int(levels) or None,
                                     embed=graph.theta is None, progress=progress))


def build_laplacian(graph: Graph, tau_mode: str = "N/r modes", tau: float = 0.2, reduction: float = 2.0,
                    levels: int = 0, criterion: str = "auto", progress=None) -> tuple[Hierarchy, list]:
    """LRG hierarchy (about N_l / ``reduction`` supernodes per level) plus the diffusion
    profile (S, C, Z over τ, normalized Laplacian: the LRG's kernel) of every level it
    coarsened; ``tau_mode``: ``N/r modes`` (τ* where N_l / reduction modes are left),
    ``C(τ) peak`` (τ* at the specific-heat peak) or ``fixed τ``. Cached and shared by sessions.

    Parameters
    ----------
    graph : Graph
        The graph to coarsen.
    tau_mode : str
        How τ* is chosen, one of :data:`TAU_MODES`.
    tau : float
        τ for ``fixed τ``.
    reduction : float
        Nodes per supernode, about.
    levels : int
        Coarsening levels; 0: until the graph is small.
    criterion : str
        The LRG's merge criterion (``method`` of :func:`roma_core.renorm.laplacian`).
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    tuple
        ``(hierarchy, profiles)``: profiles has one diffusion profile (or None for a level
        without edges) per coarsened level.

    Raises
    ------
    HierarchyError
        If ``tau_mode`` is not one of :data:`TAU_MODES`.
    """
    if tau_mode not in TAU_MODES:
        raise HierarchyError(f"tau mode must be one of {TAU_MODES}, got {tau_mode!r}")
    kw = dict(levels=int(levels) or None, method=criterion, reduction=float(reduction))
    if tau_mode == "C(τ) peak":
        kw["rule"] = "max"
    elif tau_mode == "fixed τ":
        kw["tau"] = float(tau)

    def make():
        def first(done, total):  # the hierarchy: 0..70 %
            report(progress, 0.7 * done / max(total, 1), 1.0)

        h = laplacian(graph, progress=first, **kw)
        profiles = []
        for l in range(h.depth):
            g = h.graphs[l]
            profiles.append(diffusion_profile(g, kind="normalized") if g.num_nodes >= 2 and g.num_edges > 0
                            else None)
            report(progress, 0.7 + 0.3 * (l + 1) / h.depth, 1.0)
        return h, profiles

    key = ("lrg", graph.fingerprint(), tau_mode, float(tau), float(reduction), int(levels), criterion)
    return _CACHE.get_or_compute(key, make)


def build_learned(run: str, trajectory: str, progress=None) -> Hierarchy:
    """The hierarchy a trained ROMA run learned on the full graph of ``trajectory``.

    Parameters
    ----------
    run : str
        A run directory or checkpoint of ``roma train``.
    trajectory : str
        The trajectory store the run was trained on.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    Hierarchy

    Raises
    ------
    HierarchyError
        If either path does not exist or the model learns no hierarchy (a baseline).
    """
    from roma_core.eval import forecast_run

    run, trajectory = str(run).strip(), str(trajectory).strip()
    if not run or not Path(run).exists():
        raise HierarchyError(f"no training run at {run!r}; give the directory of a run (or checkpoint) "
                             "trained with `roma train`")
    if not trajectory or not Path(trajectory).exists():
        raise HierarchyError(f"no trajectory store at {trajectory!r}; give the .zarr the run was trained on")

    def make():
        report(progress, 0, 1)
        _, h, _ = forecast_run(run, trajectory)
        report(progress, 1, 1)
        if h is None:
            raise HierarchyError(f"{run}: this model has no learned hierarchy (a baseline?); "
                                 "choose a ROMA run")
        return h

    return _CACHE.get_or_compute(("neural", str(Path(run).resolve()), str(Path(trajectory).resolve())), make)


def prepared(build, *args, progress=None):
    """``(build(*args), GraphData of its hierarchy's graph)``: the job a view runs, so the
    (cached, shared) rendering data is made off the event loop too.

    Parameters
    ----------
    build : callable
        One of the builders above.
    *args
        Its arguments.
    progress : callable, optional
        ``progress(done, total)``.

    Returns
    -------
    tuple
        ``(what build returned, render.GraphData)``.
    """
    result = build(*args, progress=lambda d, t: report(progress, 0.8 * d / max(t, 1), 1.0))
    h = result[0] if isinstance(result, tuple) else result
    data = render.prepare(h.graph, progress=lambda d, t: report(progress, 0.8 + 0.2 * d / max(t, 1), 1.0))
    return result, data


def method_of(h: Hierarchy) -> str:
    """Which widget choice a hierarchy belongs to (from its spec).

    Parameters
    ----------
    h : Hierarchy

    Returns
    -------
    str
        One of :data:`METHODS`.
    """
    return {"geometric": "GRG", "laplacian": "LRG", "neural": "learned"}.get(str(h.spec.get("method")), "GRG")


__all__ = ["METHODS", "TAU_MODES", "CRITERIA", "build_geometric", "build_laplacian", "build_learned", "prepared",
           "method_of"]
