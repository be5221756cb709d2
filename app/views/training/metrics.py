"""A training run's ``metrics.jsonl`` read incrementally (the live loss curves' source),
and what its newest checkpoint says."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from roma_core.errors import RomaError

TRAIN_SERIES = ("loss", "forecast", "effective", "aux")  # train-record columns plotted
RECENT = 50  # train records over which the recent step rate is measured


class MetricsLog:
    """A run's ``metrics.jsonl`` read incrementally: :meth:`poll` reads only what was
    appended since the last call (a line still being written waits for the next poll);
    a log that was replaced or truncated (a new or resumed run) is read again from the start.

    Parameters
    ----------
    path : str or Path
        The ``metrics.jsonl`` file (it need not exist yet).
    """

    def __init__(self, path):
        self.path = Path(path)
        self._reset()

    def _reset(self) -> None:
        self._pos, self._ident, self._partial = 0, None, b""
        self.train = {k: [] for k in ("step", *TRAIN_SERIES, "time")}
        self.val = {"step": [], "rel_l2": [], "time": []}
        self.lines = 0  # records read
        self.skipped = 0  # lines that were not JSON records

    def poll(self) -> tuple[dict, dict, bool]:
        """Read what was appended.

        Returns
        -------
        tuple
            ``(new train columns, new validation columns, restarted)``: dicts of lists;
            ``restarted`` says everything read before was dropped (the file was replaced).
        """
        new_t = {k: [] for k in self.train}
        new_v = {k: [] for k in self.val}
        try:
            st = os.stat(self.path)
        except OSError:  # not written yet, or removed
            restarted = self._pos > 0
            if restarted:
                self._reset()
            return new_t, new_v, restarted
        ident = (st.st_dev, st.st_ino)
        restarted = self._ident is not None and (ident != self._ident or st.st_size < self._pos)
        if restarted:
            self._reset()
        self._ident = ident
        if st.st_size <= self._pos:
            return new_t, new_v, restarted
        with open(self.path, "rb") as f:
            f.seek(self._pos)
            chunk = f.read(st.st_size - self._pos)
        self._pos += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()  # after the last newline: incomplete until the writer ends it
        for line in lines:
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                split, step = rec.get("split"), int(rec["step"])
            except (ValueError, KeyError, TypeError, AttributeError):
                self.skipped += 1
                continue
            self.lines += 1
            if split == "train":
                new_t["step"].append(step)
                for k in (*TRAIN_SERIES, "time"):
                    new_t[k].append(_number(rec.get(k)))
            elif split == "val":
                new_v["step"].append(step)
                new_v["rel_l2"].append(_number(rec.get("rel_l2")))
                new_v["time"].append(_number(rec.get("time")))
        for cols, new in ((self.train, new_t), (self.val, new_v)):
            for k, v in new.items():
                cols[k].extend(v)
        return new_t, new_v, restarted

    @property
    def train_steps(self) -> int:
        """The number of train records read."""
        return len(self.train["step"])

    @property
    def val_points(self) -> int:
        """The number of validation records read."""
        return len(self.val["step"])

    def present(self) -> list[str]:
        """The series with something to draw on a log axis (a term never above 0, such as
        the effective-dynamics loss of a forecast-only run, is left out).

        Returns
        -------
        list of str
            Names among :data:`TRAIN_SERIES` and ``"rel_l2"``.
        """
        out = [k for k in TRAIN_SERIES if any(v > 0 for v in self.train[k])]
        return out + (["rel_l2"] if any(v > 0 for v in self.val["rel_l2"]) else [])

    def frame(self, key: str) -> pd.DataFrame:
        """One series read so far as a table.

        Parameters
        ----------
        key : str
            A train series or ``"rel_l2"``.

        Returns
        -------
        pandas.DataFrame
            Columns ``step`` and ``key``.
        """
        cols = self.val if key == "rel_l2" else self.train
        return series_frame(cols["step"], cols[key], key)

    def rates(self) -> tuple[float, float, float]:
        """How fast the run trains.

        Returns
        -------
        tuple of float
            ``(elapsed training seconds, mean steps/s, steps/s over the last RECENT steps)``;
            NaN where not known yet.
        """
        t, s = self.train["time"], self.train["step"]
        elapsed = max([x for x in (t[-1:] + self.val["time"][-1:]) if math.isfinite(x)], default=math.nan)
        if not s or not (t[-1] > 0):
            return elapsed, math.nan, math.nan
        mean = s[-1] / t[-1]
        k = max(len(s) - 1 - RECENT, 0)
        recent = (s[-1] - s[k]) / (t[-1] - t[k]) if t[-1] > t[k] else mean
        return elapsed, mean, recent


def _number(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def series_frame(steps, values, key: str) -> pd.DataFrame:
    """A table of one series.

    Parameters
    ----------
    steps : sequence of int
        The steps.
    values : sequence of float
        One value per step.
    key : str
        The values' column name.

    Returns
    -------
    pandas.DataFrame
        Columns ``step`` (int64) and ``key`` (float64).
    """
    return pd.DataFrame({"step": np.asarray(steps, dtype=np.int64), key: np.asarray(values, dtype=np.float64)})


def run_info(path) -> dict:
    """What a run directory's newest checkpoint says (model, params, step, specs); {}
    when there is none yet (a run that has just started) or it is unreadable. The weights
    are not hashed here: that is for loading them.

    Parameters
    ----------
    path : str or Path
        A run directory or checkpoint.

    Returns
    -------
    dict
    """
    from roma_core.train.checkpoint import resolve

    try:
        return json.loads((resolve(path) / "checkpoint.json").read_text())
    except (RomaError, OSError, ValueError):
        return {}


__all__ = ["MetricsLog", "run_info", "series_frame", "TRAIN_SERIES", "RECENT"]
