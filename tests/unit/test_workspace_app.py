"""The dashboard confined to a workspace, without a browser: the views' pickers list the
workspace, user paths outside it are refused, runs land in a folder of their own and
nothing of the user's is overwritten."""
import os

import panel as pn
import pytest

from app.data import ASSETS, DEFAULT_RUN, DEFAULT_TRAJECTORY
from app.pickers import NONE, path_field
from app.state import Session
from app.views.forecast import ForecastView
from app.views.simulate import SimulateView
from benchmarks.bad_inputs import run_coroutine
from roma_core.data.store import owned
from roma_core.graphs import hyperbolic_graph
from roma_core.workspace import Workspace


@pytest.fixture
def session(tmp_path):
    graph = hyperbolic_graph(150, mean_degree=6, seed=2)
    return Session(graph=graph, workspace=Workspace(tmp_path / "ws", readonly=[ASSETS]))


def simulate_view(session, **fields):
    view = SimulateView(session=session, **fields)
    view.simulation.param.update(t_end=0.05, dt=0.01, save_every=5)
    return view


def test_runs_land_in_their_own_workspace_folders(session):
    view = simulate_view(session)
    assert view.run(wait=True), view.status
    first = session.trajectory
    assert view.run(wait=True), view.status
    second = session.trajectory
    root = session.workspace.root
    for path in (first, second):
        assert path.startswith(str(root / "simulate")) and owned(path)
    assert os.path.dirname(first) != os.path.dirname(second)
    view.cleanup()  # the page closed: the workspace's results stay, and stay listed
    listed = {it.path for it in Workspace(root).items(["trajectory"])}
    assert {os.path.realpath(first), os.path.realpath(second)} <= {str(p) for p in listed}


def test_a_folder_of_user_files_survives_overwrite(session):
    mine = session.workspace.root / "mine.zarr"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    view = simulate_view(session, out_path="mine.zarr", overwrite=True)
    assert not view.run(wait=True)
    assert "not written by ROMA" in view.status and "mine.zarr" in view.status
    assert [p.name for p in mine.iterdir()] == ["notes.txt"] and (mine / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("bad, why", [("/tmp/x.zarr", "outside"), ("../x.zarr", "'..'"),
                                      (str(DEFAULT_TRAJECTORY), "read-only")])
def test_output_outside_the_workspace_is_refused(session, bad, why):
    view = simulate_view(session, out_path=bad)
    assert not view.run() and why in view.status


def test_pickers_list_the_workspace_and_follow_the_view(session):
    session.run = str(DEFAULT_RUN)
    view = ForecastView(session=session)
    assert view.run == str(DEFAULT_RUN)
    row = path_field(view, "run", session, ("run",))
    select = row[0]
    assert isinstance(select, pn.widgets.Select)
    assert select.options[NONE] == "" and select.options["assets/roma_kuramoto_2k"] == str(DEFAULT_RUN)
    assert select.value == str(DEFAULT_RUN)
    assert all("zarr" not in label for label in select.options)  # runs only
    select.value = ""
    assert view.run == ""
    # a run written after the page opened: the refresh button lists it, picking it sets the view
    run = session.workspace.root / "train" / "r" / "roma"
    run.mkdir(parents=True)
    (run / "checkpoint.json").write_text("{}")
    row[1].clicks += 1
    assert select.options["train/r/roma"] == str(run)
    select.value = str(run)
    assert view.run == str(run)
    # a path outside the workspace set on the view is not offered, and loading it is refused
    view.run = "/etc"
    assert "/etc" not in select.options.values() and select.value == ""
    view.load()
    assert "outside" in view.status


def test_without_a_workspace_fields_stay_free_text():
    view = ForecastView(session=Session())
    assert isinstance(path_field(view, "run", None, ("run",)), pn.widgets.TextInput)


def test_views_check_the_limits_before_a_job_starts(session, monkeypatch):
    from app.views.graph import GraphView

    monkeypatch.setenv("ROMA_APP_MAX_STEPS", "4")
    view = simulate_view(session)  # 0.05 / 0.01 = 5 steps
    assert not view.run() and not view.job.running
    assert "5 steps; this server allows at most 4 per job (roma serve --max-steps)" in view.job.status
    monkeypatch.setenv("ROMA_APP_MAX_STEPS", "5")
    assert view.run(wait=True) and "done" in view.job.status
    monkeypatch.setenv("ROMA_APP_MAX_NODES", "1000000")
    graph = GraphView(graph=session.graph, session=session)
    graph.spec.nodes = 10**8
    run_coroutine(graph._on_generate())
    assert "100,000,000 nodes; this server allows at most 1,000,000 per job" in graph.status and not graph.busy


def test_names_in_a_multiple_choice_are_escaped(session):
    """Bokeh's MultiChoice shows its labels as HTML: a run named like a tag must be escaped."""
    evil = session.workspace.root / "<img src=x onerror=alert(1)>"
    evil.mkdir()
    (evil / "checkpoint.json").write_text("{}")
    view = ForecastView(session=session)
    choice = path_field(view, "baselines", session, ("run",), multiple=True)[0]
    assert isinstance(choice, pn.widgets.MultiChoice)
    assert choice.options["&lt;img src=x onerror=alert(1)&gt;"] == str(evil)
    assert not any("<" in label for label in choice.options)
    choice.value = [str(evil)]
    assert view.baselines == str(evil)
