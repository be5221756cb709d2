"""The dashboard's views, one module each; :data:`VIEWS` lists the tabs of the Explorer in
order. A new view (simulate, hierarchy, forecast, attention, training) adds one entry:
``(tab title, factory)`` where the factory takes the shared default graph and returns a
``pn.viewable.Viewer``."""
from __future__ import annotations

from .graph import GraphView


def _graph(graph):
    return GraphView(graph=graph)


VIEWS = [
    ("Graph", _graph),
]

__all__ = ["GraphView", "VIEWS"]
