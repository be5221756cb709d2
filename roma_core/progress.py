"""One progress convention for the library: ``progress(done, total)`` callbacks.

Long-running functions accept ``progress=None`` or a callable taking ``(done, total)``.
The CLI feeds it to tqdm, the app to ``pn.indicators.Progress``. A callback may raise
:class:`roma_core.errors.Cancelled` to stop the computation.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Callable, Iterator

ProgressCallback = Callable[[float, float], None]


def report(progress: ProgressCallback | None, done: float, total: float) -> None:
    """Call ``progress`` when one was given.

    Parameters
    ----------
    progress : callable or None
        A ``progress(done, total)`` callback.
    done, total : float
        How far the work is.
    """
    if progress is not None:
        progress(done, total)


@contextlib.contextmanager
def tqdm_progress(desc: str, unit: str = "it", disable: bool | None = None) -> Iterator[ProgressCallback]:
    """A callback that drives a tqdm bar on stderr.

    Parameters
    ----------
    desc : str
        The bar's label.
    unit : str
        The unit of ``done``.
    disable : bool, optional
        Hide the bar; default: when stderr is not a terminal.

    Yields
    ------
    callable
        ``progress(done, total)``, for the duration of the ``with`` block.
    """
    from tqdm.auto import tqdm

    if disable is None:
        disable = not sys.stderr.isatty()
    bar = tqdm(desc=desc, unit=unit, disable=disable, mininterval=0.5)

    def update(done: float, total: float) -> None:
        if bar.total != total:
            bar.total = total
        bar.n = done
        bar.refresh()

    try:
        yield update
    finally:
        bar.close()
