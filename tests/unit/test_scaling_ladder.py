"""The multi-model scaling ladder: `roma scaling`'s argument errors, a ladder trained in this
process and resumed, the same ladder as tasks of a real two-process Dask LocalCluster (equal
results, resumed without retraining), and the crossover of two laws."""
from __future__ import annotations

import json

import numpy as np
import pytest

from roma_core.cli import main
from roma_core.dynamics import KuramotoSpec, simulate
from roma_core.eval.scaling import crossover, fit_ladder, plan_ladder, run_ladder, run_ladder_dask
from roma_core.graphs import hyperbolic_graph
from roma_core.specs import ModelSpec, TrainSpec

MODEL = dict(lookback=4, horizon=2, heads=2, supernodes=8, levels=2, pos_dim=2, basis=4)
TRAIN = dict(steps=3, roots=16, walk_length=4, eval_every=0, checkpoint_every=2, device="cpu")
FLAGS = ["--lookback", "4", "--horizon", "2", "--heads", "2", "--supernodes", "8", "--levels", "2",
         "--pos-dim", "2", "--basis", "4", "--roots", "16", "--walk-length", "4", "--eval-every", "0",
         "--checkpoint-every", "2", "--steps", "3", "--device", "cpu"]
WIDTHS, MODELS = [4, 6, 8], ["roma", "gnn"]


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Three 300-node Kuramoto trajectories: two training graphs and a held-out one."""
    root = tmp_path_factory.mktemp("ladder")
    out = []
    for seed in (1, 3, 2):
        g = hyperbolic_graph(300, mean_degree=6, seed=seed)
        simulate(KuramotoSpec(coupling=3.0), g, t_end=6, dt=0.02, save_every=5, seed=seed, out=root / f"k{seed}.zarr")
        out.append(root / f"k{seed}.zarr")
    return out


def _mtimes(out):
    """Each run's result.json and checkpoint.json modification times (ns)."""
    return {p.parent.name + "/" + p.name: p.stat().st_mtime_ns
            for p in sorted(out.glob("*_w*_s*/*.json"))}


@pytest.mark.parametrize("flags, message", [
    (["--models", "roma,nope"], "--models: nope: give models among"),
    (["--models", "persistence"], "--models: persistence"),
    (["--models", "roma,roma"], "names a model twice"),
    (["--sizes", "4,8"], "at least 3 distinct widths"),
    (["--sizes", "4,8,8"], "at least 3 distinct widths"),
    (["--sizes", "4,x,8"], "--sizes must be comma-separated ints"),
    (["--sizes", "0,4,8"], "--sizes must be positive"),
    (["--seeds", "0,0"], "--seeds must be distinct"),
    (["--seeds", "a"], "--seeds must be comma-separated ints"),
    (["--floors", "train=0.1"], "span among test, heldout"),
    (["--floors", "test"], "span=value pairs"),
    (["--floors", "test=abc"], "test must be a number"),
    (["--floors", "test=-1"], "finite number >= 0"),
    (["--floors", "heldout=0.1"], "no --heldout trajectory"),
])
def test_cli_argument_errors_say_what_to_fix(tmp_path, capsys, flags, message):
    base = {"--data": str(tmp_path / "none.zarr"), "--sizes": "4,6,8", "--out": str(tmp_path / "out")}
    given = dict(zip(flags[::2], flags[1::2]))
    argv = ["scaling"] + [x for k, v in {**base, **given}.items() for x in (k, v)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("roma scaling: error:") and message in err, err
    assert not (tmp_path / "out").exists()          # checked before any data is read or run started


def test_ladder_in_process_via_cli_and_resume(stores, tmp_path, capsys):
    a, b, held = stores
    out = tmp_path / "ladder"
    argv = ["scaling", "--data", str(a), "--extra-data", str(b), "--heldout", str(held), "--models", "roma,gnn",
            "--sizes", "4,6,8", "--seeds", "0", "--floors", "test=0.001", "--out", str(out), *FLAGS]
    # a run stopped halfway: its folder holds a checkpoint at step 2 of 3, and no result
    jobs, _ = plan_ladder(MODELS, ModelSpec(**MODEL, channels=2), TrainSpec(**TRAIN), WIDTHS, [0])
    from roma_core.eval.scaling import load_ladder_windows
    from roma_core.train import train

    half = jobs[3]
    train(load_ladder_windows([a, b], [], half["spec"], half["train_spec"])[0], half["model"], half["spec"],
          half["train_spec"], out / half["name"], max_steps=2)
    assert json.loads((out / half["name"] / "checkpoint.json").read_text())["step"] == 2
    assert main(argv) == 0
    text = capsys.readouterr().out
    res = json.loads((out / "scaling.json").read_text())
    assert res["roma_kind"] == "scaling" and res["models"] == MODELS and res["widths"] == WIDTHS
    assert [(r["model"], r["rung"], r["seed"]) for r in res["runs"]] == [(m, w, 0) for w in WIDTHS for m in MODELS]
    assert all(r["steps"] == 3 and len(r["heldout_per_window"]) > 0 for r in res["runs"])
    steps = [json.loads(l)["step"] for l in (out / half["name"] / "metrics.jsonl").read_text().splitlines()
             if json.loads(l)["split"] == "train"]
    assert steps == [1, 2, 3]                       # resumed from step 2, not restarted
    fits = res["fits"]
    assert set(fits) == {"test", "heldout"} and fits["test"]["floor"] == 0.001 and fits["heldout"]["floor"] == 0
    assert set(fits["test"]["models"]) == set(MODELS) and fits["test"]["best_peer"] == "gnn"
    for f in fits["test"]["models"].values():
        assert [p["params"] for p in f["points"]] == sorted(p["params"] for p in f["points"])
        assert f["alpha_ci"][0] <= f["alpha"] <= f["alpha_ci"][1]
    assert text.count(" seed 0 ") == 6 and "alpha =" in text and "best peer gnn" in text
    # rerun after losing one result: only that one is scored again, nothing is retrained
    before = _mtimes(out)
    (out / "gnn_w6_s0" / "result.json").unlink()
    assert main(argv) == 0
    after = _mtimes(out)
    assert {k: v for k, v in after.items() if k != "gnn_w6_s0/result.json"} == \
           {k: v for k, v in before.items() if k != "gnn_w6_s0/result.json"}
    again = json.loads((out / "scaling.json").read_text())
    assert [r["test_rel_l2"] for r in again["runs"]] == pytest.approx([r["test_rel_l2"] for r in res["runs"]])
    # the same folder with other settings is refused, not read back as if it held them
    capsys.readouterr()
    longer = [("4" if i and argv[i - 1] == "--steps" else a) for i, a in enumerate(argv)]
    assert main(longer) == 2
    assert "train_spec.steps" in capsys.readouterr().err


@pytest.mark.timeout(120)
def test_ladder_on_a_dask_local_cluster_equals_in_process_and_resumes(stores, tmp_path):
    from dask.distributed import Client, LocalCluster

    a, b, held = stores
    mspec, tspec = ModelSpec(**MODEL, channels=2), TrainSpec(**TRAIN)
    from roma_core.eval.scaling import load_ladder_windows

    train_w, held_w = load_ladder_windows([a, b], [held], mspec, tspec)
    here = run_ladder(train_w, MODELS, mspec, tspec, WIDTHS, [0], tmp_path / "here", heldout=held_w)
    seen = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        out = tmp_path / "dask"
        res = run_ladder_dask([a, b], MODELS, mspec, tspec, WIDTHS, [0], out, heldout=[held], client=client,
                              progress=lambda d, t: seen.append((d, t)))
        assert seen[-1] == (6, 6) and [d for d, _ in seen] == list(range(1, 7))
        saved = json.loads((out / "scaling.json").read_text())
        assert len(saved["runs"]) == 6 and set(saved["fits"]) == {"test", "heldout"}
        # the workers loaded the same windows and trained the same models as this process did
        key = lambda r: (r["model"], r["rung"])
        for x, y in zip(sorted(res["runs"], key=key), sorted(here["runs"], key=key)):
            assert key(x) == key(y) and x["params"] == y["params"]
            assert x["test_rel_l2"] == pytest.approx(y["test_rel_l2"], rel=1e-5)
            assert x["heldout_rel_l2"] == pytest.approx(y["heldout_rel_l2"], rel=1e-5)
        # resume: two results lost; the rerun scores them again from their checkpoints only
        before = _mtimes(out)
        for name in ("roma_w8_s0", "gnn_w4_s0"):
            (out / name / "result.json").unlink()
        again = run_ladder_dask([a, b], MODELS, mspec, tspec, WIDTHS, [0], out, heldout=[held], client=client)
        after = _mtimes(out)
        lost = {"roma_w8_s0/result.json", "gnn_w4_s0/result.json"}
        assert {k: v for k, v in after.items() if k not in lost} == {k: v for k, v in before.items() if k not in lost}
        assert lost <= set(after)
        assert all(json.loads((out / n / "checkpoint.json").read_text())["step"] == 3 for n in ("roma_w8_s0", "gnn_w4_s0"))
        assert json.loads((out / "scaling.json").read_text())["runs"] == again["runs"]
        assert [r["test_rel_l2"] for r in again["runs"]] == pytest.approx([r["test_rel_l2"] for r in res["runs"]])


def test_crossover_and_fit_ladder_comparison():
    assert crossover(2.0, 0.5, 1.0, 0.3) == pytest.approx(2.0 ** (1 / 0.2))   # steeper: below the peer above P*
    assert crossover(1.0, 0.3, 2.0, 0.5) == np.inf      # shallower: the peer's law is lower at large P
    assert crossover(0.5, 0.3, 2.0, 0.5) == np.inf      # ... even when it starts lower
    assert crossover(1.0, 0.3, 2.0, 0.3) == 0.0 and crossover(2.0, 0.3, 1.0, 0.3) == np.inf
    # exact laws above a floor, two seeds x four windows of noise-free errors: the fit is exact
    floor, params = 0.01, {"roma": [1e3, 3e3, 1e4, 3e4], "gnn": [1.1e3, 3.2e3, 1.05e4, 2.9e4]}
    law = {"roma": (5.0, 0.5), "gnn": (1.0, 0.3)}
    runs = [{"model": m, "rung": i, "params": p, "seed": s, "test_per_window": [floor + law[m][0] * p ** -law[m][1]] * 4}
            for m in law for i, p in enumerate(params[m]) for s in (0, 1)]
    fit = fit_ladder(runs, {"test": floor}, bootstrap=200)["test"]
    for m, (a, alpha) in law.items():
        assert fit["models"][m]["alpha"] == pytest.approx(alpha) and fit["models"][m]["prefactor"] == pytest.approx(a)
        assert fit["models"][m]["alpha_ci"] == pytest.approx([alpha, alpha])
        assert [p["seed_sd"] for p in fit["models"][m]["points"]] == [0.0] * 4
    assert fit["best_peer"] == "gnn" and fit["alpha_diff"] == pytest.approx(0.2)
    assert fit["crossover_params"] == pytest.approx(5.0 ** (1 / 0.2)) and fit["crossover_share"] == 1.0
