"""Entry of the dashboard: ``panel serve app/main.py`` (or ``roma serve``).

Each browser session runs this file anew and gets its own views; the heavy data
(graphs, edge rasters) is cached at module level and shared between sessions.
"""
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by panel serve: make `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import panel as pn  # noqa: E402

from app.data import default_session  # noqa: E402
from app.render import warm_up  # noqa: E402
from app.views import VIEWS  # noqa: E402

pn.extension(notifications=True)
# names, paths and messages in the page are text: raw HTML in Markdown is escaped, never rendered
pn.pane.Markdown.param.renderer_options.default = {"html": False}
warm_up()  # compiles the rendering kernels once per process: at start with `roma serve` (--warm)


def build() -> pn.template.BootstrapTemplate:
    """The Explorer: one tab per entry of ``app.views.VIEWS``. (Bootstrap rather than the
    Fast templates: those fetch a web font, which fails on machines without internet.)"""
    session = default_session()
    tabs = pn.Tabs(*[(title, factory(session)) for title, factory in VIEWS], dynamic=True)
    return pn.template.BootstrapTemplate(title="ROMA Explorer", main=[tabs], header_background="#1f4e79",
                                         collapsed_sidebar=True)


build().servable(title="ROMA Explorer")
