"""Per-session state shared by the views: what the user is looking at right now.

Every browser session builds its own :class:`Session`; the heavy objects it points to
(the default graph, hierarchies, edge rasters) are cached at module level and shared.
A view reads the session's ``graph``, ``trajectory``, ``hierarchy`` and ``run`` and
may set them (e.g. the Simulate view sets ``trajectory`` when a run finishes), so the
other views follow.

A served session has a ``workspace``: every path its user gives goes through
:meth:`Session.resolve` (inside the workspace, or the read-only shipped assets), and each
job writes into its own folder of the workspace (:meth:`Session.job_folder`). Without one
(a notebook or script on one's own machine), paths are taken as given and jobs write into
temporary folders.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import param

from roma_core.graphs import Graph
from roma_core.workspace import Workspace


class Session(param.Parameterized):
    """What one browser session is exploring."""

    graph = param.ClassSelector(class_=Graph, allow_None=True, doc="the graph every view shows")
    trajectory = param.String(default="", doc="path of the trajectory store (zarr) being explored")
    hierarchy = param.Parameter(default=None, doc="the roma_core.renorm.Hierarchy being shown, if any")
    run = param.String(default="", doc="path of the training run / checkpoint directory being explored")
    workspace = param.ClassSelector(class_=Workspace, allow_None=True, default=None,
                                    doc="where this session's user may read and write (None: anywhere)")

    def resolve(self, given, *, write: bool = False) -> str:
        """The path meant by ``given``, checked against the workspace when there is one
        (raises :class:`roma_core.errors.AccessError` for a path outside it)."""
        if self.workspace is None:
            return str(Path(str(given).strip()).expanduser())
        return str(self.workspace.resolve(given, write=write))

    def job_folder(self, kind: str) -> Path:
        """A fresh folder for one job's results: in the workspace (kept, listed after a
        restart), or a temporary folder without one."""
        if self.workspace is None:
            return Path(tempfile.mkdtemp(prefix=f"roma-{kind}-"))
        return self.workspace.new_folder(kind)
