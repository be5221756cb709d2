"""Per-session state shared by the views: what the user is looking at right now.

Every browser session builds its own :class:`Session`; the heavy objects it points to
(the default graph, hierarchies, edge rasters) are cached at module level and shared.
A view reads the session's ``graph``, ``trajectory``, ``hierarchy`` and ``run`` and
may set them (e.g. the Simulate view sets ``trajectory`` when a run finishes), so the
other views follow.
"""
from __future__ import annotations

import param

from roma_core.graphs import Graph


class Session(param.Parameterized):
    """What one browser session is exploring."""

    graph = param.ClassSelector(class_=Graph, allow_None=True, doc="the graph every view shows")
    trajectory = param.String(default="", doc="path of the trajectory store (zarr) being explored")
    hierarchy = param.Parameter(default=None, doc="the roma_core.renorm.Hierarchy being shown, if any")
    run = param.String(default="", doc="path of the training run / checkpoint directory being explored")
