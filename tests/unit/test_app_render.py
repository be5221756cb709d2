"""The dashboard's rendering pipeline: level-of-detail edges against a direct Datashader
aggregation of all edges, node picking against brute force, layouts."""
import numpy as np
import pandas as pd
import pytest

from app import render
from roma_core.errors import GraphError
from roma_core.graphs import Graph


@pytest.fixture(scope="module")
def data(small_graph):
    return render.prepare(small_graph, resolution=1024)



def test_prepare_is_cached_per_graph(small_graph, data):
    assert render.prepare(small_graph, resolution=1024) is data
    assert len(data.segments) == small_graph.num_edges
    assert data.nodes["degree"].sum() == 2 * small_graph.num_edges


def test_raster_counts_every_edge_once(small_graph, data):
    # the raster is the sum of per-chunk aggregations: equal to one aggregation of all edges
    direct = render.aggregate_edges(data.segments, render.EXTENT, render.EXTENT, 1024, 1024)
    np.testing.assert_array_equal(data.raster.values, direct.values.astype(np.float32))


@pytest.mark.parametrize("view", [((-1.02, 1.02), (-1.02, 1.02)), ((-0.1, 0.05), (0.3, 0.45)),
                                  ((0.9, 0.95), (-0.2, -0.15))])
def test_edge_image_matches_direct_aggregation(data, view, monkeypatch):
    monkeypatch.setattr(render, "FINE_EDGE_MAX", 1_000)  # treat the 9,000 edges as a big graph
    x_range, y_range = view
    img, mode, _ = data.edge_image(x_range, y_range, 200, 200)
    direct = render.aggregate_edges(data.segments, x_range, y_range, 200, 200).values
    if mode == "fine":  # culling must keep every edge that crosses the viewport: exact
        np.testing.assert_array_equal(img.values, direct)
    else:  # zoomed out: the resampled raster has the same edges where the direct image has them
        assert mode == "raster"
        got, ref = img.values > 0, direct > 0
        assert (got & ref).sum() / ref.sum() > 0.9


def test_small_graphs_draw_every_edge_exactly(data):
    img, mode, n = data.edge_image(render.EXTENT, render.EXTENT, 300, 300)
    direct = render.aggregate_edges(data.segments, render.EXTENT, render.EXTENT, 300, 300).values
    assert mode == "fine" and n == len(data.segments)
    np.testing.assert_array_equal(img.values, direct)


def test_sampled_edges_stand_for_all(data, monkeypatch):
    # ~3,300 edges cross this view; 602 raster pixels across it, fewer than the 900 asked
    x_range = y_range = (-0.6, 0.6)
    monkeypatch.setattr(render, "FINE_EDGE_MAX", 800)
    img, mode, n = data.edge_image(x_range, y_range, 900, 900)
    direct = render.aggregate_edges(data.segments, x_range, y_range, 900, 900).values
    assert mode == "sampled" and n == 800
    # a uniform sample, weighted by (edges in view) / (edges drawn), keeps the total ink
    assert img.values.sum() == pytest.approx(direct.sum(), rel=0.1)


def test_nearest_node_matches_brute_force(data):
    rng = np.random.default_rng(1)
    x, y = data.nodes["x"].to_numpy(), data.nodes["y"].to_numpy()
    for px, py in rng.uniform(-1, 1, size=(20, 2)):
        d = np.hypot(x - px, y - py)
        got = data.nearest(px, py, 0.05)
        assert got == (int(np.argmin(d)) if d.min() <= 0.05 else None)


def test_layouts(small_graph):
    x, y, kind = render.layout(small_graph, "poincare")
    assert kind == "poincare" and np.all(np.hypot(x, y) < 1)
    np.testing.assert_allclose(np.hypot(x, y), np.tanh(small_graph.radius / 2))
    x, y, kind = render.layout(small_graph, "native")
    np.testing.assert_allclose(np.hypot(x, y), small_graph.radius / small_graph.radius.max())
    np.testing.assert_allclose(np.arctan2(y, x) % (2 * np.pi), small_graph.theta % (2 * np.pi), atol=1e-9)
    plain = Graph.from_edges([0, 1, 2], [1, 2, 0])
    x, y, kind = render.layout(plain)
    assert kind == "force" and np.all(np.abs(x) <= 1) and np.all(np.abs(y) <= 1)
    big = Graph.from_edges(np.arange(render.FORCE_LAYOUT_MAX), np.arange(1, render.FORCE_LAYOUT_MAX + 1))
    with pytest.raises(GraphError, match="force layout"):
        render.layout(big)
    with pytest.raises(GraphError, match="projection"):
        render.layout(small_graph, "mercator")


def test_graph_view_in_python(small_graph):
    """The view works without a server (as in a notebook): pick, recolour, extra quantities."""
    from app.views.graph import GraphView

    view = GraphView(graph=small_graph)
    assert "2,000 nodes" in view.status
    i = view.pick(float(view.data.nodes["x"][5]), float(view.data.nodes["y"][5]))
    assert i == 5
    view.quantities = {"error": np.linspace(0, 1, small_graph.num_nodes)}
    assert "error" in view.param.color_by.objects
    view.color_by = "error"
    assert view._colour_opts()["clim"] == (0.0, 1.0)
    with pytest.raises(GraphError):
        render.node_points(view.data, "error", np.zeros(3))


def test_graph_tab_keeps_the_session_graph_in_step():
    from app.state import Session
    from app.views import VIEWS
    from roma_core.graphs import hyperbolic_graph

    factory = dict(VIEWS)["Graph"]
    session = Session(graph=hyperbolic_graph(300, mean_degree=4, seed=1))
    view = factory(session)
    generated = hyperbolic_graph(400, mean_degree=4, seed=2)
    view.show(generated)                    # generated or opened in the view ...
    assert session.graph is generated       # ... the other views see it
    other = hyperbolic_graph(500, mean_degree=4, seed=3)
    session.graph = other                   # set by another view ...
    assert view.graph is other              # ... the graph view shows it


def _bokeh_issues(view):
    """Bokeh's validation warnings and errors for the document a view serves, and its plots."""
    import panel as pn
    from bokeh.core.validation import check_integrity
    from bokeh.document import Document
    from bokeh.models import Plot

    doc = Document()
    root = pn.panel(view).get_root(doc)
    doc.add_root(root)
    issues = check_integrity(list(doc.models))
    return [f"{i.code} {i.name} {i.extra}" for i in issues.warning + issues.error], list(root.select({"type": Plot}))


def test_views_pass_bokeh_validation(small_graph):
    """The figures the views serve pass Bokeh's document validation (the server logs any
    issue, e.g. W-1005 for HoloViews' frame-sized figures), and frame-sized figures keep
    the frame they ask for."""
    from app.state import Session
    from app.views.graph import GraphView
    from app.views.hierarchy import HierarchyView
    from app.views.simulate import SimulateView

    session = Session(graph=small_graph)
    for view in (GraphView(graph=small_graph), SimulateView(session=session), HierarchyView(session=session)):
        found, plots = _bokeh_issues(view)
        assert found == [], (type(view).__name__, found)
        assert plots and all(p.frame_width is None or p.sizing_mode is None for p in plots)


@pytest.mark.timeout(300)
def test_forecast_and_attention_pass_bokeh_validation_while_loading_and_loaded():
    """The Forecast and Attention views pass Bokeh's validation before anything is loaded
    (no run chosen), while their forecast job runs, and once it has been shown (W-1002
    EMPTY_LAYOUT came from the rows they fill later)."""
    from pathlib import Path

    from app.views.attention import AttentionView
    from app.views.forecast import ForecastView, cached

    for cls in (ForecastView, AttentionView):
        found, _ = _bokeh_issues(cls())
        assert found == [], (cls.__name__, "no run", found)
    assets = Path(__file__).resolve().parents[2] / "assets"
    run, traj = assets / "roma_kuramoto_2k", assets / "kuramoto_2k.zarr"
    if not run.exists():
        pytest.skip("the shipped run is not built")
    for cls in (ForecastView, AttentionView):
        view = cls(run=str(run), trajectory=str(traj))
        if cached(run, traj, "test") is None:  # the first view's job is still running: the loading state
            found, _ = _bokeh_issues(view)
            assert found == [], (cls.__name__, "loading", found)
        view.job.wait(240)
        assert view.result is not None, view.job.status
        found, plots = _bokeh_issues(view)
        assert found == [] and len(plots) >= 3, (cls.__name__, "loaded", found)


def test_node_shading_against_references():
    """Spreading matches scipy's maximum filter; colours follow Bokeh's mapping (bin
    floor((v - lo) / (hi - lo) * n), on log values for a log norm); empty stays transparent."""
    from scipy.ndimage import maximum_filter

    rng = np.random.default_rng(0)
    a = np.where(rng.random((40, 50)) < 0.1, rng.random((40, 50)) * 100, np.nan).astype(np.float32)
    got = render._spread_max(a, 2)
    want = maximum_filter(np.nan_to_num(a, nan=-1.0), size=5, mode="constant", cval=-1.0)
    np.testing.assert_array_equal(np.nan_to_num(got, nan=-1.0), want)
    cmap = [f"#{i:02x}0000" for i in range(0, 250, 10)]  # 25 reds: the colour's red byte is the bin * 10
    v = np.array([[np.nan, 1.0, 10.0, 100.0, 5.5]], dtype=np.float32)
    red = lambda rgba: (rgba & 0xFF).astype(int)  # noqa: E731
    lin = render.shade_values(v, cmap, (1.0, 100.0), "linear")
    assert lin[0, 0] == 0 and (lin[0, 1:] >> 24 == 255).all()
    expect = [min(int((x - 1) / 99 * 25), 24) * 10 for x in (1.0, 10.0, 100.0, 5.5)]
    assert list(red(lin[0, 1:])) == expect
    log = render.shade_values(v, cmap, (1.0, 100.0), "log")
    expect = [min(int(np.log10(x) / 2 * 25), 24) * 10 for x in (1.0, 10.0, 100.0, 5.5)]
    assert list(red(log[0, 1:])) == expect


def test_graph_layer_draws_nodes_over_edges(small_graph, data):
    """One RGBA image: node pixels carry the colormap, edge-only pixels grey, the rest empty;
    without edges only node pixels remain."""
    drawn = []
    nodes = pd.DataFrame({"x": data.nodes["x"], "y": data.nodes["y"], "value": data.nodes["degree"]})
    colour = dict(cmap=["#ff0000", "#00ff00"], clim=(1.0, float(small_graph.degree.max())), cnorm="log")
    show = [True]
    layer = render.graph_layer(lambda: data, lambda: nodes, colour, streams=[], edges=lambda: show[0],
                               on_draw=lambda mode, n: drawn.append((mode, n)), px=0)
    rgb = layer.callback.callable(x_range=render.EXTENT, y_range=render.EXTENT, width=300, height=300)
    px = np.dstack([rgb.dimension_values(d, flat=False) for d in "RGBA"]).astype(int)
    node = (px[..., 3] == 255) & ((px[..., 0] == 255) | (px[..., 1] == 255)) & (px[..., 2] == 0)
    grey = (px[..., 3] > 0) & (px[..., 0] == px[..., 1]) & (px[..., 1] == px[..., 2])
    assert drawn == [("fine", small_graph.num_edges)]
    # every node's pixel is coloured: compare with a direct count of occupied pixels
    ix = np.clip(((nodes["x"] - render.EXTENT[0]) / 2.04 * 300).astype(int), 0, 299)
    iy = np.clip(((nodes["y"] - render.EXTENT[0]) / 2.04 * 300).astype(int), 0, 299)
    occupied = np.zeros((300, 300), bool)
    occupied[iy, ix] = True
    assert abs(int(node.sum()) - int(occupied.sum())) <= 0.01 * occupied.sum()
    assert grey.sum() > node.sum() and not (node & grey).any()
    show[0] = False
    rgb = layer.callback.callable(x_range=render.EXTENT, y_range=render.EXTENT, width=300, height=300)
    alpha = rgb.dimension_values("A", flat=False)
    assert (alpha > 0).sum() == node.sum() and drawn[-1] == ("none", 0)
