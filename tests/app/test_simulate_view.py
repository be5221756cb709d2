"""The Simulate view in a real browser: the shipped trajectory at load, the time slider,
a small run with progress and its R(t), cancel, and two sessions simulating at once."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from browser_util import diff, open_tab, pixels, publish, set_number, steady, wait_for


PLOT, SERIES = ".roma-sim-plot", ".roma-sim-series"


def coloured(img: np.ndarray) -> np.ndarray:
    return (img.max(axis=2) - img.min(axis=2)) > 60


def settled(page, css=PLOT, timeout=60.0, share=0.01) -> np.ndarray:
    """The element's image once drawn (a ``share`` of coloured pixels) and unchanged over a second."""
    return steady(lambda: pixels(page, css), lambda im: coloured(im).mean() > share, timeout, css)


@pytest.fixture
def pages(tmp_path):
    """Pages opened by a test; each one's final state is saved as a screenshot artefact."""
    opened = []
    yield opened
    for i, page in enumerate(opened):
        try:
            page.screenshot(path=tmp_path / f"final_{i}.png")
        except Exception:
            pass


def open_simulate(open_page, pages=None):
    page = open_page()
    if pages is not None:
        pages.append(page)
    return open_tab(page, "Simulate", PLOT)


def summary(page, page_text) -> str:
    return page_text(page, ".roma-sim-summary")


def r_end(text: str) -> float:
    return float(re.search(r"R\(t_end\) = ([0-9.]+)", text).group(1))


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_shipped_trajectory_at_load_and_time_slider(open_page, page_text, tmp_path):
    page = open_simulate(open_page)
    first = settled(page, timeout=120)
    text = summary(page, page_text)
    assert "kuramoto_2k.zarr" in text and "2,000 nodes" in text and "401 frames" in text
    assert "frame 0 of 400" in page_text(page, ".roma-sim-time")
    series = settled(page, SERIES, share=0.002)
    assert coloured(series).mean() > 0.005  # per-supernode curves and the red time marker
    # the time slider: jump to the last frame with the keyboard
    slider = page.locator(".roma-sim-player input[type=range]").first
    slider.focus()
    slider.press("End")
    wait_for(lambda: "frame 400 of 400" in page_text(page, ".roma-sim-time"), timeout=30,
             what="the time text to show the last frame")
    last = settled(page)
    assert diff(first, last) > 3, "the graph image did not change with the time"
    assert diff(series, pixels(page, SERIES)) > 0.05, "the time marker on R(t) did not move"
    # a frame in the synchronised phase for the README
    slider.evaluate("e => { e.value = 150; e.dispatchEvent(new Event('input', {bubbles: true}));"
                    " e.dispatchEvent(new Event('change', {bubbles: true})); }")
    wait_for(lambda: "frame 150 of 400" in page_text(page, ".roma-sim-time"), timeout=30, what="frame 150")
    settled(page)
    pixels(page, PLOT, tmp_path / "simulate_plot_t15.png")
    page.screenshot(path=tmp_path / "simulate_view.png")
    publish(tmp_path / "simulate_view.png", "simulate_view.png")
    # a collapsed card builds its widgets when first opened
    assert page.get_by_text("Method", exact=True).count() == 0
    page.get_by_text("Device and integrator").click()
    page.get_by_text("Method", exact=True).wait_for(timeout=30_000)
    assert page.roma_errors == [], page.roma_errors


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_run_shows_progress_and_result_then_cancel(open_page, page_text, tmp_path, pages):
    page = open_simulate(open_page, pages)
    before_plot = settled(page, timeout=120)
    before_series = settled(page, SERIES, share=0.002)
    set_number(page, "T end", 10)
    page.get_by_role("button", name="Run").click()
    wait_for(lambda: page.locator(".roma-sim-progress").first.is_visible(), timeout=20,
             what="the progress bar")
    page.screenshot(path=tmp_path / "running.png")
    wait_for(lambda: "done" in page_text(page, ".roma-sim-job"), timeout=120, what="the run to finish")
    text = wait_for(lambda: (lambda t: t if "kuramoto_001.zarr" in t else None)(summary(page, page_text)),
                    timeout=30, what="the new trajectory in the summary")
    assert "1,001 frames" not in text and "101 frames" in text and "t = 0 … 10" in text
    assert not page.locator(".roma-sim-progress").first.is_visible()
    wait_for(lambda: "frame 0 of 100" in page_text(page, ".roma-sim-time"), timeout=20, what="the new time axis")
    assert diff(before_plot, settled(page)) > 3, "the graph still shows the old trajectory"
    after_series = settled(page, SERIES, share=0.002)
    assert diff(before_series, after_series) > 1, "R(t) did not change to the new run"
    pixels(page, SERIES, tmp_path / "series_after_run.png")

    # a long run, cancelled: the trajectory shown stays the finished one
    set_number(page, "T end", 2000)
    page.get_by_role("button", name="Run").click()
    wait_for(lambda: page.locator(".roma-sim-progress").first.is_visible(), timeout=20, what="progress")
    page.get_by_role("button", name="Cancel").click()
    wait_for(lambda: "cancelled" in page_text(page, ".roma-sim-job"), timeout=30, what="the cancellation")
    assert "kuramoto_001.zarr" in summary(page, page_text)
    assert not page.locator(".roma-sim-progress").first.is_visible()
    assert page.roma_errors == [], page.roma_errors


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_two_sessions_simulate_at_once(open_page, page_text, pages):
    a, b = open_simulate(open_page, pages), open_simulate(open_page, pages)
    for page, coupling, t_end in ((a, 0, 6), (b, 8, 5)):
        settled(page, timeout=120)
        set_number(page, "Coupling", coupling)
        set_number(page, "T end", t_end)
        # small steps, few frames: each run lasts seconds, so the two surely overlap
        set_number(page, "Dt", 2e-4)
        set_number(page, "Save every", 500)
    a.get_by_role("button", name="Run").click()
    b.get_by_role("button", name="Run").click()
    # both run at the same time: each shows its own progress bar
    wait_for(lambda: a.locator(".roma-sim-progress").first.is_visible()
             and b.locator(".roma-sim-progress").first.is_visible(), timeout=20, what="both progress bars")
    for page in (a, b):
        wait_for(lambda: "done" in page_text(page, ".roma-sim-job"), timeout=150, what="both runs to finish")
    ta = wait_for(lambda: (lambda t: t if "001.zarr" in t else None)(summary(a, page_text)), timeout=30,
                  what="session A's result")
    tb = wait_for(lambda: (lambda t: t if "001.zarr" in t else None)(summary(b, page_text)), timeout=30,
                  what="session B's result")
    path_a, path_b = re.search(r"store: (\S+)", ta).group(1), re.search(r"store: (\S+)", tb).group(1)
    assert path_a != path_b, "the two sessions wrote to the same store"
    assert "t = 0 … 6" in ta and "t = 0 … 5" in tb  # each its own parameters
    assert "61 frames" in ta and "51 frames" in tb
    # K = 0 stays incoherent (R ~ 1/sqrt(N)); K = 8 synchronises
    assert r_end(ta) < 0.2 < 0.5 < r_end(tb), (ta, tb)
    assert a.roma_errors == [] and b.roma_errors == [], (a.roma_errors, b.roma_errors)


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_burgers_runs_with_the_view_defaults(open_page, page_text, tmp_path, pages):
    """Switch to Burgers and press Run without touching a field: the view has set a stable
    time step (shown in its field and explained), and the run finishes."""
    page = open_simulate(open_page, pages)
    settled(page, timeout=120)
    page.get_by_role("button", name="social Burgers").click()
    note = wait_for(lambda: (lambda t: t if "stable up to" in t else None)(page_text(page, ".roma-sim-step")),
                    timeout=30, what="the note on the time step")
    dt = float(re.search(r"dt set to ([0-9.e-]+)", note).group(1))
    assert dt < 0.01
    assert float(page.get_by_label("Dt", exact=True).first.input_value()) == pytest.approx(dt)
    set_number(page, "T end", 2)
    page.get_by_role("button", name="Run").click()
    wait_for(lambda: "done" in page_text(page, ".roma-sim-job") or "⚠" in page_text(page, ".roma-sim-job"),
             timeout=120, what="the Burgers run to end")
    assert "done" in page_text(page, ".roma-sim-job"), page_text(page, ".roma-sim-job")
    text = wait_for(lambda: (lambda t: t if "burgers_001.zarr" in t else None)(summary(page, page_text)),
                    timeout=30, what="the Burgers trajectory in the summary")
    assert "social Burgers" in text and "21 frames" in text
    page.screenshot(path=tmp_path / "burgers_defaults.png")
    assert page.roma_errors == [], page.roma_errors


# ---------------------------------------------------------------- without a browser
@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A 300-node Kuramoto run stored as zarr, opened for viewing."""
    from app.views.simulate import simulate_to_store
    from roma_core.graphs import hyperbolic_graph
    from roma_core.specs import KuramotoSpec, SimulationSpec

    g = hyperbolic_graph(300, mean_degree=8, seed=3)
    out = tmp_path_factory.mktemp("sim") / "k.zarr"
    shown = simulate_to_store(KuramotoSpec(coupling=3.0), g, SimulationSpec(t_end=2.0, dt=0.01, save_every=20),
                              str(out))
    return g, out, shown


@pytest.mark.timeout(120)
def test_supernode_order_parameter_matches_direct_sums(small_run):
    g, out, shown = small_run
    assert shown.frames == 11 and shown.graph is g and shown.hierarchy is not None
    theta = np.asarray(shown.ds["state"].values, dtype=np.float64)
    # global R from the store equals |mean exp(i theta)| over nodes
    np.testing.assert_allclose(shown.global_series, np.abs(np.exp(1j * theta).mean(axis=1)), atol=1e-5)
    for level in (1, shown.default_level()):
        members = shown.hierarchy.membership(level)
        series = shown.level_series(level)
        for s in (0, int(members.max())):
            own = theta[:, members == s]
            np.testing.assert_allclose(series[s], np.abs(np.exp(1j * own).mean(axis=1)), atol=1e-6)
    assert shown.hierarchy.sizes[shown.default_level()] <= 32


@pytest.mark.timeout(120)
def test_view_never_overwrites_and_follows_the_session(small_run, tmp_path):
    from app.state import Session
    from app.views.simulate import SimulateView

    g, out, _ = small_run
    session = Session(graph=g, trajectory=str(out))
    view = SimulateView(session=session)
    assert view.summary.count("300 nodes") == 1 and view.frame == 0
    view.out_path = str(out)  # exists: refused, with the way out in the message
    assert not view.run()
    assert "exists already" in view.status and "Replace" in view.status
    view.out_path = str(tmp_path / "run")
    assert not view.run() and "end the path with .zarr" in view.status
    view.out_path = ""  # the view's temporary folder: fresh names, never an existing store
    view.simulation.t_end = 0.2
    assert view.run(wait=True)
    first = session.trajectory
    assert first.endswith("kuramoto_001.zarr") and view._shown.path == first and view.frame == 0
    view.dynamics = "burgers"
    view.simulation.dt = 0.001
    assert view.run(wait=True), view.status
    assert session.trajectory.endswith("burgers_002.zarr") and "social Burgers" in view.summary
    assert Path(first).exists()
    # bad parameters: the library's message, no traceback
    view.simulation.dt = 0.05
    view.run(wait=True)
    assert "stability limit" in view.job.status and "Traceback" not in view.job.status
    folder = Path(first).parent
    view.cleanup()  # what a closed page does: its temporary runs go
    assert not folder.exists()


@pytest.mark.timeout(120)
def test_every_dynamics_runs_with_the_view_defaults(tmp_path):
    """Switching dynamics sets a step the simulator accepts: on the shipped graph the
    default Burgers dt 0.01 is unstable, so the view lowers it below the simulator's own
    limit (checked by running just above and below it) and the run finishes."""
    import torch

    from app.data import default_session
    from app.views.simulate import SimulateView, stability_limit
    from roma_core.dynamics.simulate import Run
    from roma_core.errors import SimulationError
    from roma_core.specs import SimulationSpec

    session = default_session()
    session.trajectory = ""
    view = SimulateView(session=session)
    assert view.simulation.dt == 0.01 and view.step_note == ""
    view.dynamics = "burgers"
    limit, rate = stability_limit(view.burgers, session.graph, view.simulation)
    for factor, ok in ((1.02, False), (0.98, True)):  # the simulator's own verdict around the limit
        sim = SimulationSpec(t_end=1.0, dt=factor * limit, device="cpu")
        if ok:
            Run(view.burgers, session.graph, sim, torch.float32)
        else:
            with pytest.raises(SimulationError, match="stability limit"):
                Run(view.burgers, session.graph, sim, torch.float32)
    dt = view.simulation.dt
    assert dt < 0.01 and 0.4 * limit < dt <= 0.8 * limit, (dt, limit)
    assert abs(view.simulation.save_every * dt - 0.1) < 1e-9  # still a frame every 0.1
    assert f"{dt:g}" in view.step_note and f"stable up to dt ≈ {limit:.3g}" in view.step_note
    view.simulation.t_end = 2.0
    assert view.run(wait=True), view.status
    assert "done" in view.job.status, view.job.status
    assert view._shown.kind == "burgers" and view._shown.frames == 21
    # more viscosity: a faster rate, so dt is lowered again; back to Kuramoto: its default
    view.burgers.viscosity = 0.01
    assert view.simulation.dt <= 0.8 * stability_limit(view.burgers, session.graph, view.simulation)[0]
    view.dynamics = "kuramoto"
    assert (view.simulation.dt, view.simulation.save_every, view.step_note) == (0.01, 10, "")
    view.simulation.t_end = 1.0
    assert view.run(wait=True) and "done" in view.job.status, view.job.status
    view.cleanup()


@pytest.mark.timeout(120)
def test_a_run_like_the_one_shown_is_drawn_into_the_same_plots(small_run, tmp_path):
    """A new trajectory that looks like the one shown (same dynamics, level and colours) is
    pushed into the plots on the page, not rendered as new plots; R(t)'s time axis follows
    it. Another colouring makes a new graph plot."""
    from bokeh.document import Document
    from bokeh.models import GlyphRenderer, MultiLine, Plot

    from app.state import Session
    from app.views.simulate import SimulateView, simulate_to_store
    from roma_core.specs import KuramotoSpec, SimulationSpec

    g, out, shown = small_run
    view = SimulateView(session=Session(graph=g, trajectory=str(out)))
    root = view.__panel__().get_root(Document())

    def plots(root):
        return {p.id: p for p in root.select({"type": Plot})}

    def series_range(root):  # the R(t) plot's time axis: shown, and where its reset tool goes
        r = next(p for p in plots(root).values() if p.title is not None and "R(t)" in p.title.text).x_range
        return r.start, r.end, r.reset_start, r.reset_end

    before = plots(root)
    assert series_range(root)[1] == pytest.approx(2.0, abs=0.1)  # t = 0 … 2, padded
    longer = simulate_to_store(KuramotoSpec(coupling=3.0), g, SimulationSpec(t_end=4.0, dt=0.01, save_every=20),
                               str(tmp_path / "k4.zarr"), hierarchy=shown.hierarchy)
    view._show(longer)
    assert plots(root).keys() == before.keys()
    lines = next(r.data_source.data for r in root.select({"type": GlyphRenderer})
                 if isinstance(r.glyph, MultiLine) and r.glyph.line_alpha == 0.35)  # R(t) per supernode
    curves = longer.series[view.level]  # one Bokeh line per supernode, as many points as frames
    assert len(lines["xs"]) == len(curves) > 1 and all(len(x) == longer.frames == 21 for x in lines["xs"])
    np.testing.assert_array_equal(lines["ys"][-1], curves[-1])
    fresh = SimulateView(session=Session(graph=g, trajectory=longer.path)).__panel__().get_root(Document())
    assert series_range(root) == pytest.approx(series_range(fresh))  # as a new plot of that run
    view.colour = "sin θ"
    assert len(plots(root).keys() - before.keys()) == 1


def test_frames_note_says_how_long_a_run_must_be_to_train():
    from roma_core.data.windows import Windows, min_frames
    from roma_core.graphs import hyperbolic_graph

    from app.views.simulate import frames_note

    need = min_frames(16, 8)
    assert "201 frames" in frames_note(20.0, 0.01, 10) and "enough" in frames_note(20.0, 0.01, 10)
    short = frames_note(2.0, 0.01, 10)
    assert "21 frames" in short and f"t_end to at least {(need - 1) * 0.1:g}" in short
    # the length it asks for gives a validation and a test window; one frame less does not
    g = hyperbolic_graph(50, mean_degree=4, seed=0)
    fits = Windows(g, np.zeros((need, 50)), lookback=16, horizon=8)
    assert len(fits.starts("val")) and len(fits.starts("test"))
    short_of = Windows(g, np.zeros((need - 1, 50)), lookback=16, horizon=8)
    assert not (len(short_of.starts("val")) and len(short_of.starts("test")))
