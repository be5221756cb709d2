"""Forecast intervals with a coverage guarantee: split-conformal per horizon step.

Any model's point forecast becomes an interval at level 1 − a: on a calibration set (the
validation span) the nonconformity score of every node and window at horizon step k is the
forecast's error there, and the radius r_k is the ⌈(n + 1)(1 − a)⌉-th smallest of the n
scores. For a new window exchangeable with the calibration windows, the truth lies within
r_k of the forecast with probability at least 1 − a (on average over windows and nodes,
not for each node).

Scores: for phase features, (sin θ, cos θ), the wrapped angular error (the angle between θ and θ̂ on the
circle), and the interval is the arc θ̂ ± r; for other features the largest absolute error
over channels, and the interval is the box x̂ ± r. Optionally the radii are calibrated per
group of nodes (for example by degree), so that hubs and leaves each get their own width.
"""
from __future__ import annotations

import numpy as np

from ..errors import SpecError

#: The levels every interval report scores.
LEVELS = (0.5, 0.8, 0.9, 0.95)


def scores(values, target, features: str) -> np.ndarray:
    """Nonconformity scores of a forecast: (B, N, horizon).

    Parameters
    ----------
    values, target : numpy.ndarray
        Forecast and truth, (B, N, horizon, C).
    features : {"phase", "identity"}
        Phase features score the wrapped angular error (radians, in [0, π]); others the
        largest absolute error over channels.

    Returns
    -------
    numpy.ndarray
    """
    if features == "phase":
        return np.abs(signed_residuals(values, target, features))
    return np.abs(np.asarray(values) - np.asarray(target)).max(axis=-1)


def signed_residuals(values, target, features: str) -> np.ndarray:
    """Truth minus forecast: the wrapped angle difference in (−π, π] for phase features,
    else per channel.

    Parameters
    ----------
    values, target : numpy.ndarray
        (B, N, horizon, C).
    features : {"phase", "identity"}

    Returns
    -------
    numpy.ndarray
        (B, N, horizon) for phases, (B, N, horizon, C) otherwise.
    """
    if features == "phase":
        diff = _angle(target) - _angle(values)
        return np.angle(np.exp(1j * diff))
    return np.asarray(target) - np.asarray(values)


def _angle(features) -> np.ndarray:
    """θ from (sin θ, cos θ) features."""
    return np.arctan2(features[..., 0], features[..., 1])


def conformal_radius(calibration, level: float) -> float:
    """The split-conformal radius at ``level``: the ⌈(n + 1)·level⌉-th smallest of n scores
    (infinite when n is too small for that level).

    Parameters
    ----------
    calibration : array_like
        Scores of the calibration points.
    level : float
        Coverage 1 − a, in (0, 1).

    Returns
    -------
    float
    """
    s = np.sort(np.asarray(calibration, float).ravel())
    if not 0 < level < 1:
        raise SpecError(f"an interval's level must be in (0, 1), got {level}")
    k = int(np.ceil((len(s) + 1) * level))
    return float(s[k - 1]) if k <= len(s) else float("inf")


def calibrate(values, target, features: str, levels=LEVELS, groups=None) -> dict:
    """Radii per level, group and horizon step from a calibration span's forecasts.

    Parameters
    ----------
    values, target : numpy.ndarray
        Calibration forecasts and truth, (B, N, horizon, C).
    features : {"phase", "identity"}
    levels : sequence of float
        Coverages.
    groups : numpy.ndarray, optional
        (N,) int group of every node (0 … G − 1); None: one group.

    Returns
    -------
    dict
        ``radius``: (levels, G, horizon) array; ``levels``; ``residuals``: the signed
        calibration residuals per group and step (for :func:`crps`), a list over groups of
        (n_g, horizon[, C]) arrays.
    """
    s = scores(values, target, features)                               # (B, N, H)
    res = signed_residuals(values, target, features)
    g = np.zeros(s.shape[1], int) if groups is None else np.asarray(groups, int)
    n_groups = int(g.max()) + 1
    radius = np.empty((len(levels), n_groups, s.shape[2]))
    residuals = []
    for j in range(n_groups):
        members = g == j
        if not members.any():
            raise SpecError(f"group {j} has no node; number the groups 0 … G − 1 without gaps")
        sj = s[:, members].reshape(-1, s.shape[2])
        for i, level in enumerate(levels):
            radius[i, j] = [conformal_radius(sj[:, k], level) for k in range(s.shape[2])]
        residuals.append(res[:, members].reshape(-1, *res.shape[2:]))
    return {"radius": radius, "levels": list(levels), "residuals": residuals}


def bounds(values, radius, features: str, groups=None):
    """The intervals of a forecast: (lower, upper) per node, window and step.

    Parameters
    ----------
    values : numpy.ndarray
        Forecast, (B, N, horizon, C).
    radius : numpy.ndarray
        (G, horizon) radii of one level (a row of :func:`calibrate`'s ``radius``).
    features : {"phase", "identity"}
    groups : numpy.ndarray, optional
        (N,) the nodes' groups, as calibrated.

    Returns
    -------
    tuple of numpy.ndarray
        Phases: the arc's ends θ̂ − r and θ̂ + r (radians, unwrapped around θ̂), (B, N,
        horizon); otherwise x̂ − r and x̂ + r, (B, N, horizon, C).
    """
    g = np.zeros(values.shape[1], int) if groups is None else np.asarray(groups, int)
    r = np.asarray(radius)[g][None]                                    # (1, N, H)
    if features == "phase":
        centre = _angle(values)
        r = np.minimum(r, np.pi)
        return centre - r, centre + r
    return values - r[..., None], values + r[..., None]


def coverage(values, target, features: str, cal: dict, groups=None) -> dict:
    """Empirical coverage and mean width of the calibrated intervals on a forecast.

    Parameters
    ----------
    values, target : numpy.ndarray
        (B, N, horizon, C).
    features : {"phase", "identity"}
    cal : dict
        What :func:`calibrate` returns.
    groups : numpy.ndarray, optional
        (N,) the nodes' groups (numbered as calibrated); None: one group.

    Returns
    -------
    dict
        Per level (as a string, e.g. ``"0.9"``): ``coverage`` and ``coverage_per_step``
        (the share of node-windows whose truth lies in the interval; on the circle for
        phases), ``width`` and ``width_per_step`` (mean interval width: 2r, capped at 2π for
        arcs).
    """
    s = scores(values, target, features)
    g = np.zeros(s.shape[1], int) if groups is None else np.asarray(groups, int)
    out = {}
    for level, radius in zip(cal["levels"], cal["radius"]):
        r = radius[g][None]                                            # (1, N, H)
        inside = s <= r
        width = np.broadcast_to(2 * (np.minimum(r, np.pi) if features == "phase" else r), s.shape)
        out[f"{level:g}"] = {"coverage": float(inside.mean()), "coverage_per_step": inside.mean(axis=(0, 1)).tolist(),
                             "width": float(width.mean()), "width_per_step": width.mean(axis=(0, 1)).tolist()}
    return out


def crps(values, target, features: str, cal: dict, groups=None, members: int = 128, seed: int = 0,
         chunk: int = 4096) -> dict:
    """The CRPS of the conformal predictive distribution: the forecast plus the signed
    calibration residuals of its group and step (an ensemble of ``members`` of them), scored
    by ``scoringrules``; for phases on the wrapped angle (radians), else per channel.

    Parameters
    ----------
    values, target : numpy.ndarray
        (B, N, horizon, C).
    features : {"phase", "identity"}
    cal : dict
        What :func:`calibrate` returns.
    groups : numpy.ndarray, optional
        As for :func:`coverage`.
    members : int
        Residuals drawn per group and step.
    seed : int
        Seed of the draw.
    chunk : int
        Node-windows scored at once (bounds memory at 10^6 nodes).

    Returns
    -------
    dict
        ``crps`` (mean) and ``crps_per_step``.
    """
    import scoringrules

    rng = np.random.default_rng(seed)
    res = signed_residuals(values, target, features)                  # the truth's offset from the forecast
    g = np.zeros(res.shape[1], int) if groups is None else np.asarray(groups, int)
    total = np.zeros(res.shape[2])
    for j, r_cal in enumerate(cal["residuals"]):
        pick = rng.integers(0, len(r_cal), min(members, len(r_cal)))
        ens = r_cal[pick]                                              # (m, H[, C])
        obs = res[:, g == j].reshape(-1, *res.shape[2:])               # (B n_j, H[, C])
        ens = np.moveaxis(ens, 0, -1)                                  # (H[, C], m)
        for lo in range(0, len(obs), chunk):
            part = obs[lo:lo + chunk]
            score = np.asarray(scoringrules.crps_ensemble(part, np.broadcast_to(ens, part.shape + ens.shape[-1:])))
            total += (score if features == "phase" else score.mean(-1)).sum(axis=0)   # channels averaged
    per_step = total / (res.shape[0] * res.shape[1])
    return {"crps": float(per_step.mean()), "crps_per_step": per_step.tolist()}


def learned(values, scale, target, features: str, levels=LEVELS) -> dict:
    """Intervals, coverage, width and CRPS of a learned Gaussian predictive distribution
    (``ModelSpec.predictive = "vbll"``): the truth's offset from the forecast is N(0, σ²), σ
    the forecast's ``scale``. Unlike the conformal intervals nothing is calibrated on held-out
    data: the distribution is the model's own, fitted on the training span, so its coverage
    is a test of the model, not a guarantee.

    For phases (σ: of the turning angle, radians) the interval at level 1 − a is the arc
    θ̂ ± z σ, z = Φ⁻¹(1 − a/2) (capped at a whole circle), scored on the wrapped residual as
    the conformal arcs are; the CRPS is the normal's closed form (``scoringrules.crps_normal``)
    of the wrapped residual (the wrapped normal's CRPS on the line, which is what
    :func:`crps` scores for the conformal distribution). For other features the interval is
    the box x̂ ± z σ per channel, z at level (1 − a)^{1/C} per channel so that the box holds
    all C independent channels at 1 − a; the CRPS is averaged over channels.

    Parameters
    ----------
    values, target : numpy.ndarray
        Forecast and truth, (B, N, horizon, C).
    scale : numpy.ndarray
        (B, N, horizon, C') predictive standard deviations (C' = 1 for phases).
    features : {"phase", "identity"}
    levels : sequence of float
        Coverages.

    Returns
    -------
    dict
        ``levels``: per level, as :func:`coverage` (``coverage``, ``coverage_per_step``,
        ``width``, ``width_per_step``); ``crps``, ``crps_per_step``; ``scale`` and
        ``scale_per_step`` (mean σ).
    """
    import scoringrules
    from scipy.stats import norm

    res = signed_residuals(values, target, features)
    sigma = np.asarray(scale, np.float64)
    if features == "phase":
        sigma = sigma[..., 0]
    out = {}
    for level in levels:
        if not 0 < level < 1:
            raise SpecError(f"an interval's level must be in (0, 1), got {level}")
        per = level if features == "phase" else level ** (1.0 / res.shape[-1])
        radius = norm.ppf(0.5 + per / 2) * sigma
        if features == "phase":
            inside, width = np.abs(res) <= radius, 2 * np.minimum(radius, np.pi)
        else:
            inside, width = (np.abs(res) <= radius).all(-1), (2 * radius).mean(-1)
        out[f"{level:g}"] = {"coverage": float(inside.mean()), "coverage_per_step": inside.mean(axis=(0, 1)).tolist(),
                             "width": float(width.mean()), "width_per_step": width.mean(axis=(0, 1)).tolist()}
    score = np.asarray(scoringrules.crps_normal(res, 0.0, sigma))
    if features != "phase":
        score, sigma = score.mean(-1), sigma.mean(-1)
    return {"levels": out, "crps": float(score.mean()), "crps_per_step": score.mean(axis=(0, 1)).tolist(),
            "scale": float(sigma.mean()), "scale_per_step": sigma.mean(axis=(0, 1)).tolist()}


def degree_bins(degree, count: int = 4) -> np.ndarray:
    """Degree thresholds that split nodes into ``count`` groups of about equal size
    (quantiles; ties merge groups): :func:`degree_groups` applies them to any graph.

    Parameters
    ----------
    degree : array_like
        (N,) degrees of the calibration graph.
    count : int
        Groups wanted.

    Returns
    -------
    numpy.ndarray
        Increasing thresholds, at most ``count − 1``.
    """
    return np.unique(np.quantile(np.asarray(degree, float), np.linspace(0, 1, count + 1)[1:-1]))


def degree_groups(degree, bins) -> np.ndarray:
    """Each node's degree group under :func:`degree_bins` thresholds: 0 for degrees up to the
    first threshold, …, ``len(bins)`` for the hubs above the last.

    Parameters
    ----------
    degree : array_like
        (N,) degrees.
    bins : numpy.ndarray
        Thresholds.

    Returns
    -------
    numpy.ndarray
        (N,) int groups.
    """
    return np.searchsorted(np.asarray(bins, float), np.asarray(degree, float), side="right")
