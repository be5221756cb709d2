"""Colours of the Hierarchy view: a categorical palette for supernode ids and the
highlight of a selected supernode's members."""
from __future__ import annotations

import colorcet as cc
import numpy as np

HIGHLIGHT = "#111111"

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


__all__ = ["PALETTE", "NCOLOURS", "HIGHLIGHT", "colour_index"]
