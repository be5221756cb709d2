"""Entry of the dashboard: ``panel serve app/main.py`` (or ``roma serve``).

Each browser session runs this file anew and gets its own views; the heavy data
(graphs, edge rasters) is cached at module level and shared between sessions.

Building a session runs on the server's one event loop, which meanwhile answers no other
request, so a page is served with empty tabs: each view is built when its tab is first
shown (the Graph view once the page has loaded), one session's view after another
(:mod:`app.turns`: the view is made in a worker thread, only its widgets' models on the
loop), and a session builds only what its user looks at. The first page of
a process (``roma serve --warm``'s, at start) builds every view, so their data is loaded
and their kernels compiled before the first visitor comes; all that is then frozen out of
the garbage collector's full passes (``gc.freeze``), which stop every thread while they run.
"""
import gc
import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by panel serve: make `app` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import panel as pn  # noqa: E402

from app.data import default_session, first_build  # noqa: E402
from app.render import warm_up  # noqa: E402
from app.turns import GIL_SWITCH, in_turn  # noqa: E402
from app.views import VIEWS, GraphView  # noqa: E402

sys.setswitchinterval(GIL_SWITCH)  # see app.turns
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


def lazy_tabs(views: list, session, eager: bool = False, on_built=None) -> pn.Tabs:
    """Tabs of ``views`` (``(title, factory)`` pairs), each view built when its tab is first
    shown (the first one once the page has loaded), in turn with other sessions' heavy
    updates (:func:`app.turns.in_turn`: the view is made in the worker thread, only its
    widgets' models on the event loop); with ``eager``, all of them now. ``on_built(view)``
    is called for each view built."""
    built = [None] * len(views)

    def make(i: int):
        return None if built[i] is not None else view(views[i][0], views[i][1], session)

    def place(i: int, made) -> None:
        if built[i] is not None or made is None:
            return
        built[i] = made
        if on_built is not None:
            on_built(made)
        tabs[i] = (views[i][0], made)

    if eager:
        built[:] = [make(i) for i in range(len(views))]
        for made in built:
            if on_built is not None:
                on_built(made)
        return pn.Tabs(*[(title, made) for (title, _), made in zip(views, built)], dynamic=True)
    tabs = pn.Tabs(*[(title, pn.pane.Markdown(f"*Opening {title}…*", css_classes=["roma-opening"]))
                     for title, _ in views], dynamic=True)

    def show(i: int, what: str) -> None:
        if 0 <= i < len(views) and built[i] is None:
            in_turn(lambda made: place(i, made), what, prepare=lambda: make(i))
    tabs.param.watch(lambda e: e.new is not None and show(e.new, f"{views[e.new][0]} view built"), "active")
    pn.state.onload(lambda: show(tabs.active, "first view built (page load)"))
    return tabs


def build() -> pn.template.BootstrapTemplate:
    """The Explorer: one tab per entry of ``app.views.VIEWS`` (see :func:`lazy_tabs`); a
    view (or the data) that fails to build shows its error in place. (Bootstrap rather than
    the Fast templates: those fetch a web font, which fails on machines without internet.)"""
    try:
        session = default_session()
    except Exception as exc:
        main = failed("The data", exc)
    else:
        plain = session.graph if session.graph is not None and not session.graph.has_coordinates else None
        if plain is not None:  # the views start empty; the Graph view embeds it, then every view follows
            session.graph = None
        shown = (lambda v: isinstance(v, GraphView) and v.show(plain)) if plain is not None else None
        first = first_build()
        main = lazy_tabs(VIEWS, session, eager=first, on_built=shown)
        if first:  # what the process loaded to serve (modules, data, caches, kernels) stays for good:
            gc.freeze()  # out of the garbage collector's full passes, which stop every thread
    # Panel builds a Divider's model without pointing its stylesheet at the server's copy; the
    # one shared by the page's Dividers is pointed there only when a Divider is in the first
    # page (the views come later): without this one, browsers fetch it from the CDN
    css = pn.layout.Divider(visible=False)
    # no busy indicator: Panel's is server-wide (every session's spinner turns for any session's
    # callback), and each of its turns updates every open page's spinner on the event loop
    return pn.template.BootstrapTemplate(title="ROMA Explorer", main=[main, css], header_background="#1f4e79",
                                         collapsed_sidebar=True, busy_indicator=None)


build().servable(title="ROMA Explorer")
