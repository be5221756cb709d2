"""Colours of the Hierarchy view: a categorical palette for supernode ids, the level whose
supernodes colour the nodes (the level shown, or a coarser one when its supernodes are too
many to tell apart on the whole disk) and the highlight of a selected supernode's members."""
from __future__ import annotations

import colorcet as cc
import numpy as np
import pandas as pd

from roma_core.renorm import Hierarchy

from ... import render

HIGHLIGHT = "#111111"
CELLS = 108  # the disk's width in cells as wide as a drawn node (5 px, spread by 2, of the 540-px plot)
MIX_MAX = 1.5  # a level's colours read when a cell holds this many of its supernodes or fewer, on average

# categorical colours for supernodes: glasbey (no greys, none too dark, so the grey edges
# and the black highlight stay apart), shuffled once so neighbouring ids differ strongly
_GLASBEY = list(cc.palette["glasbey_bw_minc_20_minl_30"])
PALETTE: list[str] = [_GLASBEY[i] for i in np.random.default_rng(7).permutation(len(_GLASBEY))]
NCOLOURS = len(PALETTE)


def colour_index(supernode: np.ndarray) -> np.ndarray:
    """Palette index of each supernode id (cycling once the palette is used up).

    Parameters
    ----------
    supernode : numpy.ndarray
        Supernode ids.

    Returns
    -------
    numpy.ndarray
        float32 indices into :data:`PALETTE`.
    """
    return (np.asarray(supernode, dtype=np.int64) % NCOLOURS).astype(np.float32)


def cells(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The cell of the :data:`CELLS` x :data:`CELLS` grid over the plot's extent that each
    node is drawn in.

    Parameters
    ----------
    x, y : numpy.ndarray
        The finest nodes' positions.

    Returns
    -------
    numpy.ndarray
        int64 cell index of each node, below ``CELLS ** 2``.
    """
    lo, width = render.EXTENT[0], render.EXTENT[1] - render.EXTENT[0]
    cx = np.clip(((np.asarray(x) - lo) * (CELLS / width)).astype(np.int64), 0, CELLS - 1)
    cy = np.clip(((np.asarray(y) - lo) * (CELLS / width)).astype(np.int64), 0, CELLS - 1)
    return cy * CELLS + cx


def _pairs(cell: np.ndarray, supernode: np.ndarray) -> np.ndarray:
    """The distinct (supernode, cell) pairs, as ``supernode * CELLS**2 + cell``."""
    return pd.unique(np.asarray(supernode, dtype=np.int64) * CELLS ** 2 + cell)


def colour_level(h: Hierarchy, level: int, cell: np.ndarray, mix_max: float = MIX_MAX) -> int:
    """The level whose supernodes colour the nodes while ``level`` is shown: ``level`` itself
    when its supernodes can be told apart on the whole disk (a cell holds at most
    ``mix_max`` of them, on average over the cells nodes are drawn in), else the finest
    coarser level whose can (the top if none can). Each of its supernodes is a union of
    the shown level's, so its colours still follow them.

    Parameters
    ----------
    h : Hierarchy
    level : int
        The level shown.
    cell : numpy.ndarray
        Each finest node's cell (:func:`cells`).
    mix_max : float
        The most supernodes per cell that still read.

    Returns
    -------
    int
    """
    if not len(cell):
        return level
    most = mix_max * len(pd.unique(cell))
    # a level with more supernodes than that fails (each covers a cell at least): count from
    # the first that may pass, then each next level's pairs from this one's (fewer each level)
    start = next((c for c in range(level, h.depth) if h.sizes[c] <= most), h.depth)
    if start == h.depth:
        return start
    pairs = _pairs(cell, h.membership(start))
    for c in range(start, h.depth):
        if len(pairs) <= most:
            return c
        pairs = _pairs(pairs % CELLS ** 2, h.parents(c)[pairs // CELLS ** 2])
    return h.depth


def ancestors(h: Hierarchy, level: int, coarse: int) -> np.ndarray:
    """The level-``coarse`` supernode each level-``level`` supernode lies in (``coarse`` ≥
    ``level``; soft rows follow their largest entry, as :meth:`Hierarchy.membership` does).

    Parameters
    ----------
    h : Hierarchy
    level, coarse : int
        The finer and the coarser level.

    Returns
    -------
    numpy.ndarray
        int64, one entry per supernode of ``level``.
    """
    out = np.arange(h.sizes[level], dtype=np.int64)
    for l in range(level, coarse):
        out = h.parents(l)[out]
    return out


__all__ = ["PALETTE", "NCOLOURS", "HIGHLIGHT", "colour_index", "cells", "colour_level", "ancestors"]
