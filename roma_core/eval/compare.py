"""Compare checkpoints on the same test data; the persistence floor is added once."""
from __future__ import annotations

from .evaluate import evaluate


def compare(checkpoints, data, heldout=None, *, max_windows: int = 16, intervals: float | None = None) -> list[dict]:
    """One table row per checkpoint (evaluated with :func:`~roma_core.eval.evaluate`), and
    one for the persistence floor, added once with the first checkpoint.

    Parameters
    ----------
    checkpoints : sequence of str or Path
        Run folders (their latest checkpoints) or ``ckpt_*`` folders.
    data : str or Path
        The trajectory of the training graph (its test span is used).
    heldout : str or Path, optional
        A trajectory on a held-out graph (every window is used).
    max_windows : int
        Windows evaluated per trajectory.
    intervals : float, optional
        Also score every model's split-conformal intervals at this level (calibrated on the
        validation span of ``data``, also for the held-out graph), persistence's included.

    Returns
    -------
    list of dict
        ``model``, ``params``, ``train_seconds``, ``steps``, ``task``, ``test_rel_l2``,
        ``checkpoint``, and ``test_r_mae`` (phases) and ``heldout_rel_l2`` where they apply;
        with ``intervals``, ``interval_level`` and per span (``test_``, ``heldout_``) the
        ``coverage`` and ``width`` at that level, the ``crps``, and ``intervals``: coverage
        and width per level, the CRPS per step (:func:`interval_row`).

    Raises
    ------
    RomaError
        If a checkpoint or trajectory cannot be read.
    """
    rows = []
    for i, path in enumerate(checkpoints):
        names = [None] + (["persistence"] if i == 0 else [])
        for name in names:
            test = evaluate(path, data, max_windows=max_windows, model_name=name, scales=False, intervals=intervals)
            row = {"model": test["model"], "params": test["params"],
                   "train_seconds": 0.0 if name else test["train_seconds"], "steps": 0 if name else test["step"],
                   "task": "-" if name else test["task"], "test_rel_l2": test["rel_l2"],
                   "checkpoint": str(path)}
            if "order_parameter_mae" in test:       # phases: error of the global synchrony R(t)
                row["test_r_mae"] = test["order_parameter_mae"]
            if intervals is not None:
                row["interval_level"] = float(intervals)
                row.update(interval_row(test["intervals"], "test"))
            if heldout:
                held = evaluate(path, heldout, max_windows=max_windows, model_name=name, scales=False,
                                intervals=intervals, calibration=None if intervals is None else data)
                row["heldout_rel_l2"] = held["rel_l2"]
                if intervals is not None:
                    row.update(interval_row(held["intervals"], "heldout"))
            rows.append(row)
    return rows


def interval_row(scores: dict, span: str) -> dict:
    """The interval scores of one span as table entries.

    Parameters
    ----------
    scores : dict
        ``evaluate(...)["intervals"]``.
    span : str
        The prefix, ``"test"`` or ``"heldout"``.

    Returns
    -------
    dict
        ``<span>_coverage`` and ``<span>_width`` at the asked level, ``<span>_crps``, and
        ``<span>_intervals``: ``coverage`` and ``width`` per level, ``crps_per_step``.
    """
    at = scores["levels"][f"{scores['level']:g}"]
    return {f"{span}_coverage": at["coverage"], f"{span}_width": at["width"], f"{span}_crps": scores["crps"],
            f"{span}_intervals": {"coverage": {k: v["coverage"] for k, v in scores["levels"].items()},
                                  "width": {k: v["width"] for k, v in scores["levels"].items()},
                                  "crps_per_step": scores["crps_per_step"]}}


def format_table(rows) -> str:
    """The rows of :func:`compare` as a plain-text table (floats with 4 decimals).

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    str
    """
    cols = ["model", "task", "params", "steps", "train_seconds", "test_rel_l2", "heldout_rel_l2", "test_r_mae",
            "test_coverage", "test_width", "test_crps", "heldout_coverage", "heldout_width", "heldout_crps"]
    cols = [c for c in cols if any(c in r for r in rows)]
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)
    cells = [cols] + [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells)
