"""Collapsed cards whose content is built when first opened."""
from __future__ import annotations

from typing import Callable

import panel as pn


def lazy_card(make: Callable[[], object], title: str, **opts) -> pn.Card:
    """A collapsed card that builds its content, ``make()``, the first time it is opened.
    A collapsed card's widgets still cost their Bokeh models when the page is built (on the
    server's one event loop, for every session); most users never open the card.

    Parameters
    ----------
    make : callable
        Returns the card's content.
    title : str
        The card's header.
    **opts
        Other options of :class:`panel.Card`.

    Returns
    -------
    panel.Card
    """
    card = pn.Card(title=title, collapsed=True, **opts)

    def fill(event) -> None:
        if not event.new and not card.objects:
            card.objects = [make()]
    card.param.watch(fill, "collapsed")
    return card
