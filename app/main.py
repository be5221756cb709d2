"""Entry of the dashboard: ``panel serve app/main.py`` (or ``roma serve``).

Each browser session runs this file anew and gets its own views; the heavy data
(graphs, edge rasters) is cached at module level and shared between sessions.
"""
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by panel serve: make `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import panel as pn  # noqa: E402

from app.data import default_session  # noqa: E402
from app.render import warm_up  # noqa: E402
from app.views import VIEWS, GraphView  # noqa: E402

pn.extension(notifications=True)
# names, paths and messages in the page are text: raw HTML in Markdown is escaped, never rendered
pn.pane.Markdown.param.renderer_options.default = {"html": False}
warm_up()  # compiles the rendering kernels once per process: at start with `roma serve` (--warm)


def failed(what: str, exc: Exception) -> pn.pane.Alert:
    """The message shown in place of a part of the page that could not be built (the
    traceback goes to the server log)."""
    logging.getLogger("app").exception("%s could not be built", what)
    return pn.pane.Alert(f"**{what} could not be shown.** {exc}", alert_type="danger",
                         css_classes=["roma-failed"])


def view(title: str, factory, session):
    try:
        return factory(session)
    except Exception as exc:
        return failed(f"The {title} view", exc)


def build() -> pn.template.BootstrapTemplate:
    """The Explorer: one tab per entry of ``app.views.VIEWS``; a view (or the data) that
    fails to build shows its error in place. (Bootstrap rather than the Fast templates:
    those fetch a web font, which fails on machines without internet.)"""
    try:
        session = default_session()
    except Exception as exc:
        main = failed("The data", exc)
    else:
        plain = session.graph if session.graph is not None and not session.graph.has_coordinates else None
        if plain is not None:  # the views start empty; the Graph view embeds it, then every view follows
            session.graph = None
        views = [(title, view(title, factory, session)) for title, factory in VIEWS]
        graph_view = next((v for _, v in views if isinstance(v, GraphView)), None)
        if plain is not None and graph_view is not None:
            graph_view.show(plain)
        main = pn.Tabs(*views, dynamic=True)
    return pn.template.BootstrapTemplate(title="ROMA Explorer", main=[main], header_background="#1f4e79",
                                         collapsed_sidebar=True)


build().servable(title="ROMA Explorer")
