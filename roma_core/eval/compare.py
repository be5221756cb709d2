"""Compare checkpoints on the same test data; the persistence floor is added once."""
from __future__ import annotations

from .evaluate import evaluate


def compare(checkpoints, data, heldout=None, *, max_windows: int = 16) -> list[dict]:
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

    Returns
    -------
    list of dict
        ``model``, ``params``, ``train_seconds``, ``steps``, ``task``, ``test_rel_l2``,
        ``checkpoint``, and ``test_r_mae`` (phases) and ``heldout_rel_l2`` where they apply.

    Raises
    ------
    RomaError
        If a checkpoint or trajectory cannot be read.
    """
    rows = []
    for i, path in enumerate(checkpoints):
        names = [None] + (["persistence"] if i == 0 else [])
        for name in names:
            test = evaluate(path, data, max_windows=max_windows, model_name=name, scales=False)
            row = {"model": test["model"], "params": test["params"],
                   "train_seconds": 0.0 if name else test["train_seconds"], "steps": 0 if name else test["step"],
                   "task": "-" if name else test["task"], "test_rel_l2": test["rel_l2"],
                   "checkpoint": str(path)}
            if "order_parameter_mae" in test:       # phases: error of the global synchrony R(t)
                row["test_r_mae"] = test["order_parameter_mae"]
            if heldout:
                row["heldout_rel_l2"] = evaluate(path, heldout, max_windows=max_windows, model_name=name,
                                                  scales=False)["rel_l2"]
            rows.append(row)
    return rows


def format_table(rows) -> str:
    """The rows of :func:`compare` as a plain-text table (floats with 4 decimals).

    Parameters
    ----------
    rows : list of dict

    Returns
    -------
    str
    """
    cols = ["model", "task", "params", "steps", "train_seconds", "test_rel_l2", "heldout_rel_l2", "test_r_mae"]
    cols = [c for c in cols if any(c in r for r in rows)]
    fmt = lambda v: f"{v:.4f}" if isinstance(v, float) else str(v)
    cells = [cols] + [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells)
