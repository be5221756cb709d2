"""bench_models compare: ROMA's spec options (--roma), checked against ModelSpec before any run, and
the held-out graphs (--heldout-graphs), never a training graph."""
import pytest

from benchmarks import bench_models
from benchmarks.bench_models import roma_options


def test_roma_options_take_the_specs_types():
    assert roma_options("near_frame=node,near_field=0,phase_gauge=false,curvature=0.5") == \
        {"near_frame": "node", "near_field": 0, "phase_gauge": False, "curvature": 0.5}
    assert roma_options("") == {}


@pytest.mark.parametrize("text,message", [("depth=3", "key=value pairs of ModelSpec options"),
                                          ("near_field", "key=value pairs"),
                                          ("near_field=a", "near_field takes a int"),
                                          ("near_frame=sideways", "does not accept 'sideways'")])
def test_bad_roma_options_say_what_to_fix(text, message):
    with pytest.raises(ValueError, match=message):
        roma_options(text)


@pytest.mark.parametrize("train_graphs,heldout_graphs,seeds", [(1, 1, [2]), (8, 4, [2, 10, 11, 12]), (16, 2, [2, 18])])
def test_heldout_graphs_never_include_a_training_graph(monkeypatch, train_graphs, heldout_graphs, seeds):
    monkeypatch.setitem(bench_models.SETUP, "train_graphs", train_graphs)
    monkeypatch.setitem(bench_models.SETUP, "heldout_graphs", heldout_graphs)
    assert bench_models.heldout_seeds() == seeds
    assert not set(seeds) & set(bench_models.train_seeds())
