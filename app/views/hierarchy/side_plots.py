"""The Hierarchy view's side plots: nodes per level, the Laplacian RG's diffusion curves
C(τ), S(τ), Z(τ) of the level coarsened into the one shown, and the degree distribution
of every level."""
from __future__ import annotations

import holoviews as hv
import numpy as np
import pandas as pd

from roma_core.renorm import Hierarchy

from ... import render
from .geometry import degree_ccdf


def sizes_plot(h: Hierarchy | None, level: int) -> hv.Bars:
    """Bars of the nodes per level (log scale), the level shown in dark blue.

    Parameters
    ----------
    h : Hierarchy or None
        The hierarchy (None: an empty plot).
    level : int
        The level shown.

    Returns
    -------
    holoviews.Bars
    """
    if h is None:
        return hv.Bars([], "level", "nodes")
    frame = pd.DataFrame({"level": [str(l) for l in range(h.num_levels)], "nodes": h.sizes,
                          "colour": ["#1f4e79" if l == level else "#9bb7d4" for l in range(h.num_levels)]})
    return hv.Bars(frame, "level", ["nodes", "colour"]).opts(
        color="colour", logy=True, ylim=(0.5, 2.0 * max(h.sizes)), frame_width=300, frame_height=220,
        hooks=[render.frame_sized], title="Nodes per level",
        tools=["hover"], ylabel="nodes (log)", xlabel="level", toolbar=None)


def profile_plot(h: Hierarchy, profiles: list, level: int):
    """C(τ), S(τ) and Z(τ)/N of the level coarsened into ``level`` (level 0's at level 0),
    with its τ* marked and the supernodes it gave in the title.

    Parameters
    ----------
    h : Hierarchy
        A Laplacian RG hierarchy.
    profiles : list
        Its diffusion profile per coarsened level (None for a level without edges).
    level : int
        The level shown.

    Returns
    -------
    holoviews.Overlay or holoviews.Curve
    """
    src = min(max(level - 1, 0), h.depth - 1)
    prof = profiles[src]
    if prof is None:
        return hv.Curve([], "τ", "C").opts(title=f"C(τ): level {src} has no edges")
    tau = prof["tau"].values
    taus = h.meta.get("tau", [])
    c = hv.Curve((tau, prof["C"].values), hv.Dimension("tau", label="diffusion time τ"), "value",
                 label="C(τ) specific heat").opts(color="#c0392b", line_width=2.5)
    s = hv.Curve((tau, prof["S"].values), hv.Dimension("tau", label="diffusion time τ"), "value",
                 label="S(τ) entropy / ln N").opts(color="#2c7fb8", line_width=1.5, line_dash="dashed")
    z = hv.Curve((tau, prof["Z"].values / h.sizes[src]), hv.Dimension("tau", label="diffusion time τ"), "value",
                 label="Z(τ)/N modes left").opts(color="#27ae60", line_width=1.5, line_dash="dotdash")
    title = f"Level {src} ({h.sizes[src]:,} nodes)"
    layers = c * s * z
    if src < len(taus):
        layers = layers * hv.VLine(taus[src]).opts(color="#333333", line_dash="dotted", line_width=2)
        big = int(np.bincount(h.membership(src + 1)).max()) if h.is_hard else None
        share = f", largest {big:,} ({100 * big / h.sizes[0]:.2g} %)" if big is not None else ""
        title += f": τ* = {taus[src]:.3g} → {h.sizes[src + 1]:,} supernodes{share}"
    return layers.opts(logx=True, frame_width=380, frame_height=220, hooks=[render.frame_sized], title=title,
                       legend_position="top_right", ylabel="", toolbar=None, show_legend=True)


def degree_plot(h: Hierarchy | None, level: int):
    """The degree CCDF of every level with 8 nodes or more, rescaled by its mean degree
    (:func:`.geometry.degree_ccdf`), the level shown drawn thick.

    Parameters
    ----------
    h : Hierarchy or None
        The hierarchy (None: an empty plot).
    level : int
        The level shown.

    Returns
    -------
    holoviews.Overlay or holoviews.Curve
    """
    if h is None:
        return hv.Curve([], "k/⟨k⟩", "P(K ≥ k)")
    from holoviews.plotting.util import process_cmap

    cols = process_cmap("viridis", ncolors=max(h.num_levels, 2))
    curves = []
    for l, g in enumerate(h.graphs):
        if g.num_nodes < 8:
            continue
        x, y = degree_ccdf(g)
        if len(x) < 2:
            continue
        curves.append(hv.Curve((x, y), hv.Dimension("k", label="k / <k>"), hv.Dimension("P", label="P(K ≥ k)"),
                               label=f"level {l}").opts(color=cols[l], line_width=3.5 if l == level else 1.3))
    if not curves:
        return hv.Curve([], "k", "P")
    return hv.Overlay(curves).opts(logx=True, logy=True, frame_width=380, frame_height=220, hooks=[render.frame_sized],
                                   title="Degree distribution per level (rescaled)", legend_position="right",
                                   toolbar=None)


__all__ = ["sizes_plot", "profile_plot", "degree_plot"]
