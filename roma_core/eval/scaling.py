"""Scaling: test error against parameter count for several models, L(P) = L_floor + a · P^(-α),
with L_floor fixed (the full-equation floor of the data, or 0) and (a, α) fitted by least
squares in log–log space; intervals from a bootstrap over seeds and windows.

A ladder (:func:`plan_ladder`) is one run per (rung, model, seed); :func:`run_ladder` trains
them in this process, :func:`run_ladder_dask` as Dask tasks; both read back the runs already
finished and rewrite ``scaling.json`` after each run (:func:`fit_ladder` of those so far)."""
from __future__ import annotations

import functools
import json
import os
import uuid
from pathlib import Path

import numpy as np

from ..errors import SpecError
from ..progress import report

#: What the result file's runs and fits report, on the test span and on the held-out graphs.
SPANS = ("test", "heldout")


def fit_power_law(params, losses, *, floor: float = 0.0, bootstrap: int = 2000, level: float = 0.95,
                  seed: int = 0) -> dict:
    """Fit L = floor + A P^-α of loss against parameter count (least squares of log(L − floor)
    on log P), with a bootstrap percentile interval of α (points resampled with replacement;
    resamples with fewer than 2 distinct P skipped).

    Parameters
    ----------
    params : array_like
        Parameter counts P (positive).
    losses : array_like
        Losses L, one per count, above ``floor``; at least 3 points.
    floor : float
        The loss no model can go below (not fitted); 0 gives the pure power law.
    bootstrap : int
        Number of bootstrap resamples.
    level : float
        Confidence level of the interval.
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``alpha``, ``prefactor`` (A), ``floor``, ``r2`` (of log(L − floor)), ``alpha_ci``
        (low, high) at ``ci_level``, ``alpha_se`` (the classical standard error of the slope)
        and ``bootstrap`` (the resamples used).

    Raises
    ------
    roma_core.errors.SpecError
        For fewer than 3 points, unequal lengths, non-positive counts or a loss at or below
        the floor.
    """
    p = np.asarray(params, dtype=float)
    l = np.asarray(losses, dtype=float) - floor
    if p.shape != l.shape or len(p) < 3:
        raise SpecError(f"a power-law fit needs >= 3 (params, loss) points of equal count, got {p.shape}, {l.shape}")
    if np.any(p <= 0) or np.any(l <= 0):
        raise SpecError(f"parameter counts must be positive and losses above the floor ({floor:g}) for a log-log fit")
    x, y = np.log(p), np.log(l)
    slope, icpt, r2 = _line(x, y)
    idx = np.random.default_rng(seed).integers(0, len(x), (bootstrap, len(x)))
    alphas = fit_laws(x[idx], l[idx])[0]
    alphas = alphas[np.isfinite(alphas)]
    lo, hi = np.quantile(alphas, [(1 - level) / 2, 1 - (1 - level) / 2])
    resid = y - (slope * x + icpt)
    # the classical standard error of the slope, for comparison with the paper's "± s.e."
    se = np.sqrt((resid ** 2).sum() / max(len(x) - 2, 1) / ((x - x.mean()) ** 2).sum())
    return {"alpha": float(-slope), "prefactor": float(np.exp(icpt)), "floor": float(floor), "r2": float(r2),
            "ci_level": level, "alpha_ci": [float(lo), float(hi)], "alpha_se": float(se), "bootstrap": len(alphas)}


def _line(x, y):
    """Least-squares slope, intercept and R² of y on x."""
    slope, icpt = np.polyfit(x, y, 1)
    resid = y - (slope * x + icpt)
    return slope, icpt, 1 - (resid ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-300)


def fit_ladder(runs, floors: dict | None = None, *, bootstrap: int = 2000, level: float = 0.95, seed: int = 0,
               reference: str = "roma", band_points: int = 40) -> dict:
    """Fit every model's scaling law on each span from a ladder's runs, with bootstrap
    intervals over seeds and windows, and compare each model with ``reference``.

    Each bootstrap resample draws one set of window indices with replacement, shared by
    every model and size (the windows are the same data for all), and, for every model and
    size, its seeds with replacement; it then refits each model's law to its sizes' mean
    errors. Intervals and bands are percentiles over the resamples (a resample where some
    mean falls to the floor is left out).

    Parameters
    ----------
    runs : list of dict
        One per (model, size, seed): ``model``, ``rung``, ``params``, ``seed`` and, per span
        of :data:`SPANS` present, ``{span}_per_window`` (errors of the same windows in every
        run).
    floors : dict, optional
        The floor per span (``{"test": 0.0081, ...}``); missing spans use 0.
    bootstrap, level, seed
        Resamples, confidence level and the resampling's seed.
    reference : str
        The model the others are compared with (ROMA).
    band_points : int
        Parameter counts at which each law's band is given (log-spaced over its sizes).

    Returns
    -------
    dict
        Per span: ``floor``, ``windows``, ``ci_level``, ``models`` (per model: ``points`` —
        mean error and its spread over seeds per size —, ``alpha``, ``prefactor``, ``r2``,
        ``alpha_ci`` and ``band``: ``params``, ``low``, ``high`` of the law), ``best_peer``
        (the model other than the reference with the lowest error at its largest size),
        ``alpha_diff`` (reference − best peer) with ``alpha_diff_ci``, ``crossover_params``
        (the P* above which the reference's law is the lower one; None when it never is),
        ``crossover_ci`` and ``crossover_share`` (the share of resamples with such a P*).
    """
    floors = floors or {}
    rng = np.random.default_rng(seed)
    q = [(1 - level) / 2, 1 - (1 - level) / 2]
    out = {}
    for span in SPANS:
        key = f"{span}_per_window"
        have = [r for r in runs if r.get(key)]
        grids = {m: _grid(have, m, key) for m in sorted({r["model"] for r in have})}
        grids = {m: g for m, g in grids.items() if len(g[0]) >= 3}
        if not grids:
            continue
        floor = float(floors.get(span, 0.0))
        windows = min(e.shape[-1] for _, e in grids.values())
        picks = rng.integers(0, windows, (bootstrap, windows))
        span_out = {"floor": floor, "windows": windows, "ci_level": level, "models": {}}
        draws = {}
        for m, (params, errors) in grids.items():
            errors = errors[..., :windows]
            fit = _fit_grid(params, errors, floor)
            means = resampled_means(errors, picks, rng)                        # (resample, size)
            draws[m] = fit_laws(np.log(params), means, floor)                     # (alpha, prefactor) per resample
            alphas = draws[m][0]
            fit["alpha_ci"] = np.nanquantile(alphas, q).tolist() if np.isfinite(alphas).any() else [np.nan, np.nan]
            grid = np.geomspace(params.min() / 1.5, params.max() * 1.5, band_points)
            low, high = law_band(*draws[m], grid, floor, level)
            fit["band"] = {"params": grid.tolist(), "low": low.tolist(), "high": high.tolist()}
            span_out["models"][m] = fit
        peers = [m for m in grids if m != reference]
        if reference in grids and peers:
            best = min(peers, key=lambda m: span_out["models"][m]["points"][-1]["mean"])
            span_out["best_peer"] = best
            span_out.update(_compare(span_out["models"][reference], span_out["models"][best], draws[reference],
                                     draws[best], q))
        out[span] = span_out
    return out


def resampled_means(errors, picks, rng) -> np.ndarray:
    """Each bootstrap resample's mean error per size: the windows of ``picks`` (one row of
    indices per resample) and, per size, its seeds drawn with replacement.

    Parameters
    ----------
    errors : numpy.ndarray
        (size, seed, window).
    picks : numpy.ndarray
        (resample, window) int indices of windows.
    rng : numpy.random.Generator
        Draws the seeds.

    Returns
    -------
    numpy.ndarray
        (resample, size).
    """
    sizes, seeds, _ = errors.shape
    per_seed = np.moveaxis(errors[:, :, picks].mean(-1), -1, 0)                # (resample, size, seed)
    draw = rng.integers(0, seeds, (len(picks), sizes, seeds))
    return np.take_along_axis(per_seed, draw, axis=2).mean(-1)


def fit_laws(x, means, floor: float = 0.0):
    """The laws L = floor + a·P^-α fitted to many sets of points at once (least squares of
    log(L − floor) on log P, one row a set): a bootstrap's resamples.

    Parameters
    ----------
    x : array_like
        Log parameter counts, ``(size,)`` shared by every row or ``(resample, size)``.
    means : array_like
        ``(resample, size)`` losses.
    floor : float
        The law's fixed floor.

    Returns
    -------
    tuple of numpy.ndarray
        ``(alpha, prefactor)`` per row; NaN where a loss is at or below the floor or the
        row's counts are all alike.
    """
    means = np.asarray(means, float)
    x = np.broadcast_to(np.asarray(x, float), means.shape)
    xc = x - x.mean(axis=1, keepdims=True)
    var = (xc ** 2).sum(axis=1)
    ok = np.all(means > floor, axis=1) & (var > 1e-12 * max(float(np.ptp(x)) ** 2, 1e-300))
    y = np.log(np.where(ok[:, None], means - floor, 1.0))
    slope = (y * xc).sum(axis=1) / np.where(ok, var, 1.0)
    icpt = y.mean(axis=1) - slope * x.mean(axis=1)
    return np.where(ok, -slope, np.nan), np.where(ok, np.exp(icpt), np.nan)


def law_band(alphas, prefactors, grid, floor: float = 0.0, level: float = 0.95):
    """Pointwise ``level`` band of the laws floor + a·P^-α of a bootstrap's resamples.

    Parameters
    ----------
    alphas, prefactors : array_like
        One per resample (NaNs left out).
    grid : array_like
        Parameter counts.
    floor : float
    level : float

    Returns
    -------
    tuple of numpy.ndarray
        ``(low, high)`` over ``grid``.
    """
    a, c = np.asarray(alphas, float), np.asarray(prefactors, float)
    ok = np.isfinite(a) & np.isfinite(c)
    if not ok.any():
        nan = np.full(len(grid), np.nan)
        return nan, nan
    lines = np.log(c[ok])[:, None] - a[ok][:, None] * np.log(np.asarray(grid, float))[None, :]
    lo, hi = np.quantile(lines, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return floor + np.exp(lo), floor + np.exp(hi)


def _grid(runs, model, key):
    """(params per size, errors (size, seed, window)) of one model; sizes with fewer seeds
    than the most common count are dropped, so every size has as many seeds."""
    by = {}
    for r in runs:
        if r["model"] == model:
            by.setdefault(int(r["rung"]), []).append(r)
    if not by:
        return np.zeros(0), np.zeros((0, 0, 0))
    seeds = max(len(v) for v in by.values())
    rungs = sorted(k for k, v in by.items() if len(v) == seeds)
    params = np.array([np.mean([r["params"] for r in by[k]]) for k in rungs], float)
    errors = np.array([[r[key] for r in sorted(by[k], key=lambda r: r["seed"])] for k in rungs], float)
    return params, errors


def _fit_grid(params, errors, floor) -> dict:
    """The law of one model from errors (size, seed, window), each size's mean over seeds
    and windows, and its points; NaNs where a mean is at or below the floor."""
    means = errors.mean(axis=(1, 2))
    if np.any(means <= floor):
        fit = {"alpha": np.nan, "prefactor": np.nan, "r2": np.nan}
    else:
        slope, icpt, r2 = _line(np.log(params), np.log(means - floor))
        fit = {"alpha": float(-slope), "prefactor": float(np.exp(icpt)), "r2": float(r2)}
    per_seed = errors.mean(axis=2)
    fit["points"] = [{"params": float(p), "mean": float(m), "seed_sd": float(s.std(ddof=1)) if len(s) > 1 else 0.0,
                      "seeds": s.tolist()} for p, m, s in zip(params, means, per_seed)]
    return fit


def crossover(a_ref: float, alpha_ref: float, a_peer: float, alpha_peer: float) -> float:
    """Where ``floor + a_ref P^-alpha_ref`` falls below ``floor + a_peer P^-alpha_peer``: the
    P* above which the reference's law is the lower one; ``inf`` when it never is, 0 when it
    always is.

    Parameters
    ----------
    a_ref, alpha_ref, a_peer, alpha_peer : float
        The two laws' prefactors and exponents.

    Returns
    -------
    float
    """
    if alpha_ref == alpha_peer:
        return 0.0 if a_ref < a_peer else np.inf
    if not alpha_ref > alpha_peer:      # shallower (or NaN): above any P the peer's law ends up lower
        return np.inf
    log_p = np.log(a_ref / a_peer) / (alpha_ref - alpha_peer)
    return float(np.exp(log_p)) if log_p < 700 else np.inf       # past float range: never, in practice


def _compare(ref, peer, ref_draws, peer_draws, q) -> dict:
    """α_ref − α_peer and the crossover P*, with bootstrap intervals (resamples paired)."""
    diff = ref_draws[0] - peer_draws[0]
    both = np.isfinite(diff)
    stars = np.array([crossover(ra, rx, pa, px) for rx, ra, px, pa in
                      zip(ref_draws[0][both], ref_draws[1][both], peer_draws[0][both], peer_draws[1][both])], float)
    star = crossover(ref["prefactor"], ref["alpha"], peer["prefactor"], peer["alpha"])
    finite = stars[np.isfinite(stars)]
    return {"alpha_diff": float(ref["alpha"] - peer["alpha"]),
            "alpha_diff_ci": np.quantile(diff[both], q).tolist() if both.any() else [np.nan, np.nan],
            "crossover_params": star if np.isfinite(star) else None,
            "crossover_ci": np.quantile(finite, q).tolist() if len(finite) else None,
            "crossover_share": float(len(finite) / max(len(stars), 1))}


def rungs(model_names, model_spec, widths) -> list[tuple[int, str, object]]:
    """The ladder's (rung, model, spec): at each of ROMA's hidden ``widths`` (the rung), every
    model at the width whose parameter count is closest to ROMA's there
    (:func:`roma_core.models.match_width`).

    Parameters
    ----------
    model_names : sequence of str
    model_spec : ModelSpec
        Everything but ``hidden``.
    widths : sequence of int
        ROMA's widths, one per rung.

    Returns
    -------
    list of tuple
    """
    from ..models import build, match_width, parameter_count
    from ..specs import ModelSpec

    out = []
    for width in widths:
        spec = ModelSpec.from_dict({**model_spec.to_dict(), "hidden": int(width)})
        target = parameter_count(build("roma", spec))
        for name in model_names:
            out.append((int(width), name, spec if name == "roma" else match_width(name, spec, target)))
    return out


def run_one(train_windows, model_name, spec, train_spec, run, *, heldout=(), max_windows: int = 16) -> dict:
    """Train one model of a ladder (resumed when its folder holds a checkpoint) and score it on
    the first training graph's test span and on each held-out graph; the result is written
    to ``run/result.json`` (atomically) and returned. A run whose result exists is read back.

    Parameters
    ----------
    train_windows : list of Windows
        The training graphs (the first gives validation and test).
    model_name : str
    spec : ModelSpec
    train_spec : TrainSpec
    run : str or Path
        The run's folder.
    heldout : sequence of Windows
        Windows of held-out graphs (every window of each is scored).
    max_windows : int
        Windows scored per graph.

    Returns
    -------
    dict
        ``model``, ``hidden``, ``params``, ``seed``, ``steps``, ``train_seconds``,
        ``seconds_per_step``, ``test_rel_l2``, ``test_per_window``, ``test_per_step``,
        ``heldout_rel_l2``, ``heldout_per_window`` (the held-out graphs' windows one after
        another), ``model_spec`` and ``train_spec``.

    Raises
    ------
    SpecError
        When the folder holds a finished run of other specs.
    """
    from ..train import train
    from .evaluate import evaluate

    run = Path(run)
    finished = finished_run(run, spec, train_spec)
    if finished is not None:
        return finished
    specs = {"model_spec": spec.to_dict(), "train_spec": train_spec.to_dict()}
    res = train(list(train_windows), model_name, spec, train_spec, run, resume=True)
    test = evaluate(run, None, windows=train_windows[0], split="test", max_windows=max_windows, scales=False)
    held = [evaluate(run, None, windows=w, split="all", max_windows=max_windows, scales=False) for w in heldout]
    out = {"model": model_name, "hidden": spec.hidden, "params": res["params"], "seed": train_spec.seed,
           "steps": res["steps"], "train_seconds": test["train_seconds"],
           "seconds_per_step": test["train_seconds"] / max(res["steps"], 1),
           "test_rel_l2": test["rel_l2"], "test_per_window": test["rel_l2_per_window"],
           "test_per_step": test["rel_l2_per_step"], **specs}
    if held:
        out["heldout_per_window"] = [e for h in held for e in h["rel_l2_per_window"]]
        out["heldout_rel_l2"] = float(np.mean(out["heldout_per_window"]))
    _write_json(run / "result.json", out)
    return out


def finished_run(run, spec, train_spec) -> dict | None:
    """A run's ``result.json`` when it has finished with these specs; None when it has not
    finished. Results that record no specs (older ladders) are taken as they are.

    Parameters
    ----------
    run : str or Path
        The run's folder.
    spec : ModelSpec
    train_spec : TrainSpec

    Returns
    -------
    dict or None

    Raises
    ------
    SpecError
        When the folder holds a finished run of other specs.
    """
    path = Path(run) / "result.json"
    if not path.exists():
        return None
    old = json.loads(path.read_text())
    specs = {"model_spec": spec.to_dict(), "train_spec": train_spec.to_dict()}
    added = {"predictive": "point"}         # fields added since a result was written: their old meaning
    changed = sorted(f"{k}.{f}" for k in specs for f in set(specs[k]) | set(old.get(k, specs[k]))
                     if old.get(k, specs[k]).get(f, added.get(f)) != specs[k].get(f))
    if changed:
        raise SpecError(f"{run} holds a finished run with other settings ({', '.join(changed)} differ): "
                        "give the ladder another output folder, or delete that run to retrain it")
    return old


def run_ladder(train_windows, model_names, model_spec, train_spec, widths, seeds, out, *, heldout=(),
               floors=None, progress=None, max_windows: int = 16) -> dict:
    """Train every model at every rung and seed in this process (each run resumed or read back
    when its folder already holds it), write ``out/scaling.json`` after each run, and fit the
    laws. :func:`run_ladder_dask` does the same with the runs as Dask tasks.

    Parameters
    ----------
    train_windows : Windows or list of Windows
        The training graphs (the first gives validation and test).
    model_names : sequence of str
        Models of the registry.
    model_spec : ModelSpec
        The models' specification; ``hidden`` is set per rung (:func:`rungs`).
    train_spec : TrainSpec
        The same for every run but its ``seed``.
    widths : sequence of int
        ROMA's hidden widths, one per rung (at least 3).
    seeds : sequence of int
        Training seeds of every (model, rung).
    out : str or Path
        The ladder's folder: one run folder per (model, rung, seed), and ``scaling.json``.
    heldout : sequence of Windows
        Held-out graphs.
    floors : dict, optional
        The floor of each span (:func:`fit_ladder`).
    progress : callable, optional
        ``progress(done, total)`` over the runs (runs read back count as done).
    max_windows : int
        Windows scored per graph.

    Returns
    -------
    dict
        What ``scaling.json`` holds: ``roma_kind``, ``models``, ``widths``, ``seeds``, the
        specs, ``floors``, ``runs`` (in the plan's order: rung, then model, then seed) and
        ``fits`` (:func:`fit_ladder`).

    Raises
    ------
    SpecError
        For fewer than 3 widths, no seed, a repeated seed, or an unknown model.
    """
    train_windows = list(train_windows) if isinstance(train_windows, (list, tuple)) else [train_windows]
    heldout = list(heldout or ())

    def execute(pending):
        for i, job in pending:
            yield i, run_one(train_windows, job["model"], job["spec"], job["train_spec"], job["run"],
                             heldout=heldout, max_windows=max_windows)

    jobs, result = plan_ladder(model_names, model_spec, train_spec, widths, seeds, floors)
    return _collect(jobs, result, out, execute, progress)


def run_ladder_dask(train_paths, model_names, model_spec, train_spec, widths, seeds, out, *, heldout=(),
                    floors=None, progress=None, max_windows: int = 16, client=None) -> dict:
    """:func:`run_ladder` with each run a Dask task: the workers load the windows from the
    trajectory paths themselves (:func:`load_ladder_windows`, once per worker process) and
    write their run's folder and ``result.json``; the driver collects the runs as they finish
    and rewrites ``out/scaling.json`` after each. Runs already finished are read back, not
    submitted, so the same call resumes a ladder (a half-trained run from its checkpoint).

    Parameters
    ----------
    train_paths : sequence of str or Path
        Trajectory stores of the training graphs (the first gives validation and test, and
        the feature transform of all).
    model_names, model_spec, train_spec, widths, seeds, floors, progress, max_windows
        As in :func:`run_ladder`; ``model_spec.channels`` must match the data's.
    out : str or Path
        The ladder's folder; on a remote cluster it and the trajectories must be on a file
        system the workers share.
    heldout : sequence of str or Path
        Trajectory stores of held-out graphs.
    client : distributed.Client or str, optional
        A Dask client, a scheduler address (``"tcp://host:8786"``), or None / ``"local"`` for
        a LocalCluster of processes (closed afterwards), as in
        :func:`roma_core.dynamics.simulate_ensemble`.

    Returns
    -------
    dict
        As :func:`run_ladder`.

    Raises
    ------
    SpecError
        As :func:`run_ladder`.
    roma_core.errors.SimulationError
        When the scheduler cannot be reached; a failing run's error is raised as is (the
        runs still queued are cancelled; those finished are kept and read back next time).
    """
    from dask.distributed import as_completed

    from ..dynamics.ensemble import _client

    train_paths = [str(Path(p).resolve()) for p in train_paths]     # workers may start elsewhere
    heldout = [str(Path(p).resolve()) for p in heldout or ()]
    if not train_paths:
        raise SpecError("a scaling ladder needs at least one training trajectory")
    jobs, result = plan_ladder(model_names, model_spec, train_spec, widths, seeds, floors)
    token = uuid.uuid4().hex[:8]

    def execute(pending):
        if not pending:
            return
        dask_client, owned = _client(client, len(pending))
        futures = {}
        try:
            for i, job in pending:
                fut = dask_client.submit(_ladder_task, train_paths, heldout, job["model"], job["spec"].to_json(),
                                         job["train_spec"].to_json(), str(Path(job["run"]).resolve()), max_windows,
                                         key=f"roma-scaling-{job['name']}-{token}", pure=False)
                futures[fut] = i
            for fut in as_completed(list(futures)):
                yield futures[fut], fut.result()
        finally:
            left = [f for f in futures if not f.done()]
            if left and not owned:
                dask_client.cancel(left)
            if owned:
                cluster = getattr(dask_client, "cluster", None)
                dask_client.close()
                if cluster is not None:
                    cluster.close()

    return _collect(jobs, result, out, execute, progress)


def plan_ladder(model_names, model_spec, train_spec, widths, seeds, floors=None) -> tuple[list[dict], dict]:
    """A ladder's runs, and the head of its result, after checking the request.

    Parameters
    ----------
    model_names, model_spec, train_spec, widths, seeds, floors
        As in :func:`run_ladder`.

    Returns
    -------
    tuple
        ``(jobs, result)``: one dict per run — ``rung``, ``model``, ``spec``, ``train_spec``
        (with the run's seed) and ``name`` (its folder's, ``<model>_w<rung>_s<seed>``) —, and the
        result without runs and fits.

    Raises
    ------
    SpecError
        For fewer than 3 widths, no seed, a repeated seed, or an unknown model.
    """
    from ..models import MODELS
    from ..specs import TrainSpec

    widths, seeds, model_names = [int(w) for w in widths], [int(s) for s in seeds], list(model_names)
    if len(set(widths)) < 3:
        raise SpecError(f"a scaling ladder needs at least 3 distinct widths, got {widths}")
    if not seeds:
        raise SpecError("a scaling ladder needs at least one seed")
    if len(set(seeds)) < len(seeds) or len(set(model_names)) < len(model_names):
        raise SpecError(f"a scaling ladder's seeds and models must not repeat, got seeds {seeds}, models {model_names}")
    trainable = sorted(set(MODELS) - {"persistence"})
    unknown = sorted(set(model_names) - set(trainable))
    if unknown or not model_names:
        raise SpecError(f"cannot scale {unknown or 'no model'}; choose among {trainable}")
    jobs = [{"rung": rung, "model": name, "spec": spec, "name": f"{name}_w{rung}_s{seed}",
             "train_spec": TrainSpec.from_dict({**train_spec.to_dict(), "seed": seed})}
            for rung, name, spec in rungs(model_names, model_spec, widths) for seed in seeds]
    result = {"roma_kind": "scaling", "models": model_names, "widths": widths, "seeds": seeds,
              "model_spec": model_spec.to_dict(), "train_spec": train_spec.to_dict(),
              "floors": {k: float(v) for k, v in (floors or {}).items()}, "runs": [], "fits": {}}
    return jobs, result


def _collect(jobs, result, out, execute, progress) -> dict:
    """Read back the runs already finished, then take ``(index, run)`` from
    ``execute(pending)`` as the others finish; after each, refit and rewrite scaling.json."""
    out = Path(out)
    for job in jobs:
        job["run"] = out / job["name"]
    done = {}
    for i, job in enumerate(jobs):
        finished = finished_run(job["run"], job["spec"], job["train_spec"])
        if finished is not None:
            done[i] = finished

    def record():
        result["runs"] = [{**done[i], "rung": jobs[i]["rung"]} for i in sorted(done)]
        result["fits"] = _fits_so_far(result)
        save_scaling(result, out)
        report(progress, len(done), len(jobs))

    if done:
        record()
    for i, run in execute([(i, job) for i, job in enumerate(jobs) if i not in done]):
        done[i] = run
        record()
    return result


def load_ladder_windows(train_paths, heldout_paths, model_spec, train_spec) -> tuple[list, list]:
    """The windows of a ladder's trajectories: the first training graph's with its own
    transform, the other training graphs' and the held-out graphs' with the first one's
    features and normalisation.

    Parameters
    ----------
    train_paths : sequence of str or Path
        Training trajectories (at least one).
    heldout_paths : sequence of str or Path
        Held-out trajectories.
    model_spec : ModelSpec
        Gives ``lookback`` and ``horizon``.
    train_spec : TrainSpec
        Gives the stride, the split fractions and the feature transform.

    Returns
    -------
    tuple of list
        ``(train windows, held-out windows)``.
    """
    from ..train.data import load_windows

    first = load_windows(train_paths[0], model_spec, train_spec)
    ref = {"features": first.features, "norm": first.norm}
    return ([first] + [load_windows(p, model_spec, train_spec, **ref) for p in train_paths[1:]],
            [load_windows(p, model_spec, train_spec, **ref) for p in heldout_paths])


@functools.lru_cache(maxsize=1)
def _worker_windows(train_paths: tuple, heldout_paths: tuple, lookback: int, horizon: int, train_json: str):
    """:func:`load_ladder_windows` once per worker process (the runs of a ladder share them)."""
    from ..specs import ModelSpec, TrainSpec

    return load_ladder_windows(list(train_paths), list(heldout_paths), ModelSpec(lookback=lookback, horizon=horizon),
                               TrainSpec.from_json(train_json))


def _ladder_task(train_paths, heldout_paths, model_name, spec_json, train_json, run, max_windows):
    """One run of a ladder, inside a Dask worker."""
    from ..specs import ModelSpec, TrainSpec

    spec, ts = ModelSpec.from_json(spec_json), TrainSpec.from_json(train_json)
    data = TrainSpec.from_dict({k: v for k, v in ts.to_dict().items()      # what the windows depend on
                                if k in ("stride", "val_fraction", "test_fraction", "features")})
    train_windows, heldout = _worker_windows(tuple(train_paths), tuple(heldout_paths), spec.lookback, spec.horizon,
                                             data.to_json())
    return run_one(train_windows, model_name, spec, ts, run, heldout=heldout, max_windows=max_windows)


def _fits_so_far(result) -> dict:
    """:func:`fit_ladder` of the runs finished, where some model has 3 sizes."""
    try:
        return fit_ladder(result["runs"], result["floors"], bootstrap=1000)
    except (SpecError, ValueError, ArithmeticError):     # a refit must never stop a ladder
        return {}


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=_plain))
    os.replace(tmp, path)


def _plain(value):
    """JSON for numpy scalars and infinities."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save_scaling(result: dict, out) -> None:
    """Write a ladder's result as ``out/scaling.json`` (atomically).

    Parameters
    ----------
    result : dict
        What :func:`run_ladder` returns.
    out : str or Path
        The folder (created).
    """
    _write_json(Path(out) / "scaling.json", result)
