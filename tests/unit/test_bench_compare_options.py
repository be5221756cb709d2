"""bench_models compare: ROMA's spec options (--roma), checked against ModelSpec before any run, and
the held-out graphs (--heldout-graphs), never a training graph; the intervals part's options and table."""
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


def test_intervals_part_scores_one_run_per_model(capsys):
    """bench_models intervals refuses a ladder of widths or seeds before any work."""
    with pytest.raises(SystemExit):
        bench_models.main(["intervals", "--sizes", "12,48", "--seeds", "0"])
    assert "one --sizes width and one --seeds seed" in capsys.readouterr().err


def test_interval_table_lists_every_level():
    row = {"data": "d", "model": "roma", "span": "test", "coverage": {"0.5": 0.5, "0.8": 0.81, "0.9": 0.9, "0.95": 0.96},
           "width": {"0.5": 0.1, "0.8": 0.2, "0.9": 0.3, "0.95": 0.4}, "crps": 0.01, "rel_l2": 0.02}
    table = bench_models.format_interval_table([row], 0.9).splitlines()
    assert table[0].split("|")[4:8] == [" cov 0.5 ", " cov 0.8 ", " cov 0.9 ", " cov 0.95 "]
    assert table[2].split("|")[4:9] == [" 0.500 ", " 0.810 ", " 0.900 ", " 0.960 ", " 0.300 "]
