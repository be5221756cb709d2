"""The data the dashboard opens with. Today a generated hyperbolic graph; when the shipped
dataset exists (assets/), :func:`default_graph` loads it instead and nothing else changes.

``ROMA_APP_GRAPH=path.npz`` (or a .zarr store) opens that graph file instead;
``ROMA_APP_NODES=N`` changes the size of the generated default (used by benchmarks).
``ROMA_APP_WORKSPACE=DIR`` (set by ``roma serve --workspace``) is the folder browser users
read and write; by default the per-user data folder (:func:`roma_core.workspace.default_root`).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import Future

from roma_core.assets import asset_path
from roma_core.errors import GraphError
from roma_core.graphs import Graph, embed, hyperbolic_graph
from roma_core.specs import GraphSpec
from roma_core.workspace import Workspace

DEFAULT_SPEC = dict(nodes=20_000, mean_degree=10.0, gamma=2.7, beta=2.0, seed=0)

_default: Graph | None = None
_shipped: Graph | None = None
_workspace: Workspace | None = None
_lock = threading.Lock()
_built = [False]  # whether a page was built in this process yet
_embedded: dict[str, Future] = {}  # graph fingerprint -> its embedding
_embedding_progress: dict[str, list] = {}


def default_spec() -> GraphSpec:
    """The GraphSpec of the generated default graph (honours ROMA_APP_NODES)."""
    spec = dict(DEFAULT_SPEC)
    if os.environ.get("ROMA_APP_NODES"):
        try:
            spec["nodes"] = int(os.environ["ROMA_APP_NODES"])
        except ValueError as exc:
            raise GraphError(f"ROMA_APP_NODES must be an integer, got {os.environ['ROMA_APP_NODES']!r}") from exc
    return GraphSpec(**spec).validate()


def generate(spec: GraphSpec, progress=None) -> Graph:
    """A hyperbolic graph from a spec, its spec JSON kept in ``meta``."""
    spec.validate()
    g = hyperbolic_graph(spec.nodes, mean_degree=spec.mean_degree, gamma=spec.gamma, beta=spec.beta,
                         seed=spec.seed, largest_component=spec.largest_component, progress=progress)
    g.meta.setdefault("spec", spec.to_json())
    return g


def embedded(graph: Graph, progress=None) -> Graph:
    """``graph`` with S1/H2 coordinates inferred by :func:`roma_core.graphs.embed`. Computed
    once per process and graph, in a thread of its own: every session asking for the same
    graph waits for the same computation (``progress`` follows it), and a session that stops
    waiting (its ``progress`` raises Cancelled, the page is closed) does not stop it."""
    key = graph.fingerprint()
    with _lock:
        task = _embedded.get(key)
        if task is None or (task.done() and task.exception() is not None):
            task = _embedded[key] = Future()
            state = _embedding_progress[key] = [0.0, 1.0]
            threading.Thread(target=_embed_into, args=(task, graph, state), daemon=True, name="roma-embed").start()
    while True:
        try:
            return task.result(timeout=0.2)
        except TimeoutError:
            done, total = _embedding_progress[key]
            if progress is not None:
                progress(done, total)


def _embed_into(task: Future, graph: Graph, state: list) -> None:
    try:
        task.set_result(embed(graph, progress=lambda done, total: state.__setitem__(slice(None), [done, total])))
    except BaseException as exc:  # handed to whoever waits
        task.set_exception(exc)


def default_graph() -> Graph:
    """The graph every new session shows first; loaded or generated once per process."""
    global _default
    with _lock:
        if _default is None:
            path = os.environ.get("ROMA_APP_GRAPH")
            _default = Graph.load(path) if path else generate(default_spec())
        return _default


ASSETS = asset_path()
DEFAULT_TRAJECTORY = asset_path("kuramoto_2k.zarr")
DEFAULT_RUN = asset_path("roma_kuramoto_2k")


def first_build() -> bool:
    """True the first time it is called in this process (the app's first page: at start
    with ``roma serve --warm``), False afterwards."""
    with _lock:
        first, _built[0] = not _built[0], True
        return first


def workspace() -> Workspace:
    """The served app's workspace (created on first use; the shipped assets readable)."""
    global _workspace
    with _lock:
        if _workspace is None:
            _workspace = Workspace(os.environ.get("ROMA_APP_WORKSPACE") or None, readonly=[ASSETS])
        return _workspace


def default_session():
    """A new :class:`app.state.Session` on the default data: the shipped trajectory (and
    the graph inside it) and pretrained run from assets/, unless ROMA_APP_GRAPH or
    ROMA_APP_NODES ask for another graph; its paths confined to :func:`workspace`."""
    from .state import Session

    custom = os.environ.get("ROMA_APP_GRAPH") or os.environ.get("ROMA_APP_NODES")
    if custom or not DEFAULT_TRAJECTORY.exists():
        return Session(graph=default_graph(), workspace=workspace())
    return Session(graph=shipped_graph(), trajectory=str(DEFAULT_TRAJECTORY),
                   run=str(DEFAULT_RUN) if DEFAULT_RUN.exists() else "", workspace=workspace())


def shipped_graph() -> Graph:
    """The graph of the shipped trajectory, loaded once per process."""
    global _shipped
    with _lock:
        if _shipped is None:
            _shipped = Graph.load(DEFAULT_TRAJECTORY)
        return _shipped
