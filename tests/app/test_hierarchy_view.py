"""The Hierarchy view: in Python (levels, selection, picking against independent
references, session sharing, LRG profiles, the learned hierarchy, a large graph's fine
levels coloured by a coarser one) and in a real browser
(supernode colours at load, switching level, LRG's C(τ), highlighting a supernode)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from roma_core.graphs import hyperbolic_graph
from browser_util import diff, open_tab, pixels, publish, steady, wait_for

ROOT = Path(__file__).resolve().parents[2]
PLOT, COARSE, SIZES, ANALYSIS = ".roma-hier-plot", ".roma-hier-coarse", ".roma-hier-sizes", ".roma-hier-analysis"


# ------------------------------------------------------------------ in Python
@pytest.fixture(scope="module")
def graph():
    return hyperbolic_graph(600, mean_degree=8, seed=3)


@pytest.mark.timeout(120)
def test_opens_on_geometric_hierarchy_and_selects_supernodes(graph):
    from app.state import Session
    from app.views.hierarchy import HierarchyView

    session = Session(graph=graph)
    view = HierarchyView(session=session)
    h = view.hierarchy
    assert h is not None and session.hierarchy is h  # shared with the other views
    # block 2 down to about 16 supernodes: ceil-halving from 600 (independent arithmetic)
    sizes = [600]
    while -(-sizes[-1] // 2) >= 16:
        sizes.append(-(-sizes[-1] // 2))
    assert h.sizes == sizes and view.level == 1
    assert view.colour_level(1) == 1  # 300 supernodes on the disk: each its own colour
    # GRG groups consecutive angles: at level l the supernode of a node is its angular rank // 2**l
    rank = np.empty(graph.num_nodes, np.int64)
    rank[np.argsort(graph.theta, kind="stable")] = np.arange(graph.num_nodes)
    view.level = 3
    view.select(5)
    assert sorted(view.members()) == sorted(np.flatnonzero(rank // 8 == 5))
    # picking a node's position selects its supernode
    node = int(np.flatnonzero(rank == 77)[0])
    x, y = view.data.nodes["x"][node], view.data.nodes["y"][node]
    assert view.pick(x, y) == 77 // 8
    # picking a supernode on the coarse graph at its drawn position
    px, py = view.positions(3)
    assert view.pick_coarse(px[11], py[11]) == 11
    # switching level clears the selection; an id out of range is refused with a message
    view.level = 4
    assert view.supernode is None
    view.supernode = 10_000
    assert view.supernode is None and "does not exist" in view.status


@pytest.mark.timeout(60)
def test_session_hierarchy_followed_and_degree_ccdf(graph):
    from app.state import Session
    from app.views.hierarchy import HierarchyView, degree_ccdf
    from roma_core.renorm import geometric

    session = Session(graph=graph)
    view = HierarchyView(session=session)
    other = geometric(graph, block=3, levels=2)
    session.hierarchy = other  # another view sets it: this one follows
    assert view.hierarchy is other and view.param.level.objects == [0, 1, 2]
    # a learned hierarchy from a run that is not there: the job fails with a message, nothing changes
    view.run = "/nonexistent/run"
    view.method = "learned"
    view._job.wait(30)
    assert "no training run" in view._job.status and view.hierarchy is other
    # coarse edges carry the number of fine edges they stand for (GRG of an unweighted graph)
    from app.views.hierarchy import coarse_segments

    h2 = geometric(graph, block=2, levels=1)
    x = np.linspace(-0.5, 0.5, h2.sizes[1])  # any positions will do
    seg = coarse_segments(h2.graphs[1], x, x)
    src, dst, _ = graph.edges()
    m = h2.membership(1)
    assert seg["w"].sum() == np.sum((src < dst) & (m[src] != m[dst]))  # fine edges between supernodes
    assert len(seg) == len({(min(a, b), max(a, b)) for a, b in zip(m[src], m[dst]) if a != b})
    # CCDF against counting: P(K >= k) for every distinct degree
    x, p = degree_ccdf(graph)
    k = graph.degree[graph.degree > 0]
    for xi, pi in zip(x, p):
        kk = xi * k.mean()
        assert pi == pytest.approx(np.mean(k >= kk - 1e-9))


@pytest.mark.timeout(300)
def test_lrg_in_background_with_profiles(graph):
    from app.views.hierarchy import HierarchyView
    from roma_core.renorm import diffusion_profile

    view = HierarchyView(graph=graph)
    view.param.update(tau_mode="fixed τ", tau=0.3, levels=2, criterion="exact")
    view.method = "LRG"  # switching builds it in the background (small graph)
    view._job.wait(240)
    h = view.hierarchy
    assert h.spec["method"] == "laplacian" and h.depth == 2 and view.method == "LRG", view._job.status
    assert h.meta["tau"] == [0.3, 0.3]
    # the C(τ) shown for level 1 is level 0's profile (independently recomputed; the LRG's
    # kernel, the normalized Laplacian), with τ* marked
    view.level = 1
    ref = diffusion_profile(graph, kind="normalized")
    np.testing.assert_allclose(view._profiles[0]["C"].values, ref["C"].values, rtol=1e-8)
    plot = view._analysis_plot()
    vline = [el for el in plot if type(el).__name__ == "VLine"]
    assert len(vline) == 1 and vline[0].data == pytest.approx(0.3)
    # switching back shows the geometric one again without rebuilding
    geo = view._built["GRG"][0]
    view.method = "GRG"
    assert view.hierarchy is geo


def glance(rgba: np.ndarray, block: int = 12) -> tuple[float, float]:
    """What a shaded image shows at a glance: its colours averaged over ``block``-pixel
    squares (those mostly drawn on); returns the share of squares whose average keeps a
    saturated colour (not grey) and the largest share of those in one of 12 hue sectors."""
    import colorsys

    b = rgba.view(np.uint8).reshape(rgba.shape + (4,)).astype(np.float64)
    n = b.shape[0] // block
    squares = b[:n * block, :n * block].reshape(n, block, n, block, 4).mean(axis=(1, 3))
    rgb = squares[squares[..., 3] > 0.9 * 255][:, :3] / 255
    hsv = np.array([colorsys.rgb_to_hsv(*c) for c in rgb])
    saturated = hsv[:, 1] > 0.25
    sectors = np.bincount((hsv[saturated, 0] * 12).astype(int) % 12, minlength=12)
    return float(saturated.mean()), float(sectors.max() / max(sectors.sum(), 1))


@pytest.mark.timeout(180)
def test_fine_levels_of_a_large_graph_are_coloured_by_a_coarser_level():
    """Level 1 of a 100,000-node graph (50,000 supernodes) colours its nodes by the coarser
    level named on the view, so the image reads as coloured sectors: the old colours (each
    node its level-1 supernode's) averaged out to a grey mush with one hue at the rim."""
    import datashader as ds
    from holoviews.operation.datashader import rasterize, spread

    from app import render
    from app.views.hierarchy import PALETTE, HierarchyView
    from roma_core.renorm import geometric

    h = geometric(hyperbolic_graph(100_000, mean_degree=8, seed=3), block=2)
    view = HierarchyView(hierarchy=h)
    assert view.level == 1 and h.sizes[1] == 50_000
    # the image as the main plot draws it: largest value per pixel, spread by 2, the palette
    img = spread(rasterize(view._node_points(), aggregator=ds.max("value"), width=540, height=540,
                           x_range=render.EXTENT, y_range=render.EXTENT, dynamic=False), px=2, how="max", dynamic=False)
    values = img.data[list(img.data.data_vars)[0]].values
    saturated, top_hue = glance(render.shade_values(values, PALETTE, (-0.5, len(PALETTE) - 0.5)))
    assert saturated > 0.7 and top_hue < 0.3, (saturated, top_hue)
    # the colours are those of a coarser level's supernodes, named on the view, and the
    # coarse graph gives each supernode its members' colour
    c = view.colour_level(1)
    assert 1 < c < h.depth and h.sizes[c] <= 1_000
    np.testing.assert_array_equal(view.node_colours(1), h.membership(c) % len(PALETTE))
    assert f"the {h.sizes[c]:,} supernodes of level {c}" in view._colours_text().object
    nodes, _ = view._coarse_frame()
    np.testing.assert_array_equal(nodes["cidx"].to_numpy()[h.membership(1)], view.node_colours(1))
    # at the top, a level's own supernodes colour the nodes
    view.level = h.depth
    assert view.colour_level(h.depth) == h.depth
    assert view._colours_text().object == f"Colours: the {h.sizes[-1]:,} supernodes of level {h.depth}."


@pytest.mark.timeout(180)
def test_learned_hierarchy_of_the_shipped_run():
    from app.views.hierarchy import HierarchyView
    from roma_core.graphs import Graph

    run, traj = ROOT / "assets" / "roma_kuramoto_2k", ROOT / "assets" / "kuramoto_2k.zarr"
    if not (run / "checkpoint.json").exists():
        pytest.fail("the shipped run assets/roma_kuramoto_2k is missing (bash assets/regenerate.sh)")
    g = Graph.load(traj)
    view = HierarchyView(graph=g, run=str(run), trajectory=str(traj))
    view.method = "learned"
    view._job.wait(150)
    h = view.hierarchy
    assert h is not None and h.spec["method"] == "neural", view._job.status
    assert h.graph.fingerprint() == g.fingerprint()
    # soft assignments: every row of every level is a probability vector
    for a in h.assign:
        np.testing.assert_allclose(a.sum(axis=1), 1.0, atol=1e-6)
    # members of every supernode partition the graph at each level
    for level in range(1, h.num_levels):
        counts = sum(len(h.members(level, s)) for s in range(h.sizes[level]))
        assert counts == g.num_nodes
    # supernodes are drawn at their members' weighted mean position, inside the disk
    px, py = view.positions(1)
    assert np.all(px ** 2 + py ** 2 <= 1.0 + 1e-9)


# ------------------------------------------------------------------ in the browser
def coloured(img: np.ndarray) -> np.ndarray:
    return (img.max(axis=2) - img.min(axis=2)) > 60


def dark(img: np.ndarray) -> np.ndarray:
    """The highlight colour (near black), never the grey edges nor the palette."""
    return img.max(axis=2) < 45


def hues(img: np.ndarray) -> int:
    return len(np.unique(img[coloured(img)] // 24, axis=0))


def settled(page, css=PLOT, timeout=60.0) -> np.ndarray:
    """The element's image once drawn (coloured pixels) and unchanged over a second."""
    return steady(lambda: pixels(page, css), lambda im: coloured(im).mean() > 0.005, timeout, css)


def open_hierarchy(open_page):
    return open_tab(open_page(height=1120), "Hierarchy", PLOT)  # tall: the side plots too


@pytest.fixture(scope="module")
def shipped():
    from roma_core.graphs import Graph
    from roma_core.renorm import geometric

    return geometric(Graph.load(ROOT / "assets" / "kuramoto_2k.zarr"), block=2)


def supernode_info(page, page_text) -> tuple[int, int, int] | None:
    text = page_text(page, ".roma-hier-supernode")
    m = [re.search(rf"{name}\s+([0-9,]+)", text) for name in ("supernode", "level", "highlighted members")]
    return None if not all(m) else tuple(int(x.group(1).replace(",", "")) for x in m)


@pytest.mark.browser
@pytest.mark.timeout(360)  # includes starting the server when this is the first browser test run
def test_browser_levels_supernodes_and_lrg(open_page, page_text, shipped, tmp_path):
    page = open_hierarchy(open_page)
    first = settled(page, timeout=120)
    pixels(page, PLOT, tmp_path / "level1.png")
    status = page_text(page, ".roma-hier-status")
    assert "GRG" in status and "2,000 nodes" in status
    levels = page_text(page, ".roma-hier-levels")
    assert levels.replace("*", "").strip() == "Level sizes: " + " → ".join(f"{n:,}" for n in shipped.sizes)
    assert hues(first) >= 30, f"level 1 (1,000 supernodes) shows only {hues(first)} colours"
    assert "Colours: the 1,000 supernodes of level 1." in page_text(page, ".roma-hier-colours")
    sizes_before = settled(page, SIZES)
    coarse_before = settled(page, COARSE)

    # switch to level 5 (63 supernodes): fewer colours on the graph, the bars and coarse graph change
    page.locator(".roma-hier-level").get_by_role("button", name="5", exact=True).click()
    wait_for(lambda: hues(pixels(page, PLOT)) < 0.7 * hues(first), timeout=30,
             what=f"fewer supernode colours at level 5 (level 1 showed {hues(first)})")
    level5 = settled(page)
    pixels(page, PLOT, tmp_path / "level5.png")
    assert diff(level5, first) > 3
    assert diff(settled(page, SIZES), sizes_before) > 0.2, "the level-size bars did not mark the new level"
    assert diff(settled(page, COARSE), coarse_before) > 1, "the coarse graph did not change with the level"

    # select supernode 7 by id: its members are highlighted, as many as the hierarchy says
    before_dark = dark(level5).sum()
    box = page.get_by_label("Supernode", exact=True).first
    box.fill("7")
    box.press("Enter")
    info = wait_for(lambda: supernode_info(page, page_text), timeout=30, what="the selected supernode's details")
    assert info == (7, 5, len(shipped.members(5, 7))), info
    wait_for(lambda: dark(pixels(page, PLOT)).sum() > before_dark + 50, timeout=30,
             what="highlighted members on the graph")
    picked = settled(page)
    pixels(page, PLOT, tmp_path / "level5_supernode7.png")

    # tap a node-coloured pixel on the left of the disk: its supernode gets selected
    ys, xs = np.nonzero(coloured(picked)[:, : picked.shape[1] // 3])
    i = int(np.argmin(xs))
    plot_box = page.locator(PLOT).first.bounding_box()
    page.mouse.click(float(plot_box["x"] + xs[i] + 1), float(plot_box["y"] + ys[i]))
    info = wait_for(lambda: (lambda v: v if v and v[0] != 7 else None)(supernode_info(page, page_text)),
                    timeout=30, what="the tapped supernode's details")
    s, level, count = info
    assert level == 5 and count == len(shipped.members(5, s)), info
    # the left of the disk is angle ~π: the tapped supernode's members sit there
    theta = shipped.graph.theta[shipped.members(5, s)]
    assert np.cos(theta).mean() < 0, "the tapped supernode is not on the left of the disk"
    settled(page)
    page.locator(".bk-tab", has_text="Hierarchy").first.scroll_into_view_if_needed()
    page.screenshot(path=tmp_path / "hierarchy_view.png")
    publish(tmp_path / "hierarchy_view.png", "hierarchy_view.png")

    # LRG: switching builds it in the background and shows its C(τ) curve with τ* marked
    analysis_before = settled(page, ANALYSIS, timeout=30)
    page.get_by_role("button", name="LRG", exact=True).click()
    wait_for(lambda: "LRG" in page_text(page, ".roma-hier-status"), timeout=150, every=1.0,
             what="the Laplacian hierarchy to be built")
    assert "τ*" in page_text(page, ".roma-hier-status") and "largest" in page_text(page, ".roma-hier-status")
    curve = wait_for(lambda: (lambda im: im if diff(im, analysis_before) > 1 else None)(pixels(page, ANALYSIS)),
                     timeout=30, what="the C(τ) plot")
    curve = settled(page, ANALYSIS)
    pixels(page, ANALYSIS, tmp_path / "lrg_profile.png")
    red = (curve[..., 0] > 150) & (curve[..., 1] < 90) & (curve[..., 2] < 90)
    assert red.sum() > 100, "no red C(τ) curve drawn"
    page.screenshot(path=tmp_path / "hierarchy_lrg.png")
    assert page.roma_errors == [], page.roma_errors
