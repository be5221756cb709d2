"""The dashboard's views, one module each; :data:`VIEWS` lists the tabs of the Explorer in
order. A new view (simulate, hierarchy, forecast, attention, training) adds one entry:
``(tab title, factory)`` where the factory takes the session's :class:`app.state.Session`
and returns a ``pn.viewable.Viewer``."""
from __future__ import annotations

from .attention import AttentionView
from .forecast import ForecastView
from .graph import GraphView
from .hierarchy import HierarchyView
from .simulate import SimulateView
from .training import TrainingView


def _graph(session):
    """The graph view, kept in step with the session both ways: a graph generated or opened
    in it becomes the session's graph (the other views follow), and vice versa."""
    view = GraphView(graph=session.graph, session=session)
    view.param.watch(lambda event: setattr(session, "graph", event.new), "graph")
    session.param.watch(lambda event: event.new is not None and event.new is not view.graph and view.show(event.new),
                        "graph")
    return view


#: The Explorer's tabs in order: ``(title, factory)``, the factory taking the session.
VIEWS = [
    ("Graph", _graph),
    ("Simulate", lambda session: SimulateView(session=session)),
    ("Hierarchy", lambda session: HierarchyView(session=session)),
    ("Forecast", lambda session: ForecastView(session=session)),
    ("Attention", lambda session: AttentionView(session=session)),
    ("Training & scaling", lambda session: TrainingView(session=session)),
]

__all__ = ["GraphView", "SimulateView", "HierarchyView", "ForecastView", "AttentionView", "TrainingView",
           "VIEWS"]
