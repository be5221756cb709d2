"""Training & scaling view: follow a training run's loss curves live, launch a small run
in the background, and show the power-law scaling of test loss with parameter count.

Usable alone in a notebook::

    import panel as pn; pn.extension()
    from app.views.training import TrainingView
    TrainingView(run="assets/roma_kuramoto_2k")                       # follow a run
    TrainingView(trajectory="assets/kuramoto_2k.zarr")                 # ... and train on this data
    TrainingView(scaling="runs/ladder/scaling.json")                   # a `roma scaling` result

Loss curves come from the run's ``metrics.jsonl`` (see :mod:`roma_core.train.loop`), read
incrementally: a periodic callback of the session reads only the bytes appended since
the last read, so a run being trained (here or by ``roma train`` elsewhere) updates live.
Runs launched here land in a per-session temporary folder (deleted when the page closes)
and become the session's run when they finish, so the Forecast and Attention views follow.
"""
from __future__ import annotations

import functools
import itertools
import json
import math
import operator
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

from roma_core.errors import FileFormatError, RomaError
from roma_core.specs import ModelSpec, TrainSpec

from ..data import ASSETS, DEFAULT_RUN
from ..jobs import Job, running_job
from ..state import Session

ROOT = ASSETS.parent
SCALING_ROOTS = (ASSETS, ROOT / "benchmarks")  # where shipped scaling results are looked for
MODELS = ("roma", "deeponet", "gnn", "transformer", "persistence")
MODEL_MAIN = ("lookback", "horizon", "hidden", "heads", "layers", "levels", "supernodes")
TRAIN_MAIN = ("task", "steps", "lr", "roots", "walk_length", "windows", "eval_every", "seed")
VIEW_MODEL_DEFAULTS = dict(hidden=16, supernodes=16, levels=2)  # a small run by default
VIEW_TRAIN_DEFAULTS = dict(steps=60, roots=128, walk_length=8, eval_every=20, device="cpu")
TRAIN_SERIES = ("loss", "forecast", "effective", "aux")  # train-record columns plotted
SMOOTH = "_smooth"  # suffix of a smoothed train series' column
STYLE = {  # column -> (legend label, colour, line width, alpha)
    "loss": ("train loss (raw)", "#9ecae1", 1.0, 0.8),
    "loss_smooth": ("train loss", "#1f4e79", 2.5, 1.0),
    "forecast_smooth": ("forecast term", "#2ca02c", 1.5, 0.9),
    "effective_smooth": ("effective-dynamics term", "#9467bd", 1.5, 0.9),
    "aux_smooth": ("auxiliary losses", "#ff7f0e", 1.5, 0.9),
    "rel_l2": ("validation rel. L2", "#d62728", 2.0, 1.0),
}
LOSS_WIDTH, SCALING_WIDTH = 560, 420  # plot widths (px): with the controls, fit a 1400-px window
POLL_MS = 1000  # how often a session looks for new lines in the followed log
BUFFER_ROWS = 10_000_000  # rows a streamed curve keeps (all of any realistic log)
RECENT = 50  # train records over which the recent step rate is measured


# ------------------------------------------------------------------ the metrics log
class MetricsLog:
    """A run's ``metrics.jsonl`` read incrementally: :meth:`poll` reads only what was
    appended since the last call (a line still being written waits for the next poll);
    a log that was replaced or truncated (a new or resumed run) is read again from the start."""

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
        """Read what was appended: (new train columns, new validation columns, restarted);
        ``restarted`` says everything read before was dropped (the file was replaced)."""
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
        return len(self.train["step"])

    @property
    def val_points(self) -> int:
        return len(self.val["step"])

    def present(self) -> list[str]:
        """The series with something to draw on a log axis (a term never above 0, such as
        the effective-dynamics loss of a forecast-only run, is left out)."""
        out = [k for k in TRAIN_SERIES if any(v > 0 for v in self.train[k])]
        return out + (["rel_l2"] if any(v > 0 for v in self.val["rel_l2"]) else [])

    def frame(self, key: str) -> pd.DataFrame:
        cols = self.val if key == "rel_l2" else self.train
        return series_frame(cols["step"], cols[key], key)

    def rates(self) -> tuple[float, float, float]:
        """(elapsed training seconds, mean steps/s, steps/s over the last RECENT steps)."""
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
    return pd.DataFrame({"step": np.asarray(steps, dtype=np.int64), key: np.asarray(values, dtype=np.float64)})


def run_info(path) -> dict:
    """What a run directory's newest checkpoint says (model, params, step, specs); {}
    when there is none yet (a run that has just started) or it is unreadable. The weights
    are not hashed here: that is for loading them."""
    from roma_core.train.checkpoint import resolve

    try:
        return json.loads((resolve(path) / "checkpoint.json").read_text())
    except (RomaError, OSError, ValueError):
        return {}


# ------------------------------------------------------------------ scaling results
@dataclass
class Scaling:
    """A scaling ladder's points and the power law fitted to one of its losses."""

    path: str
    model: str
    hidden: np.ndarray
    params: np.ndarray
    losses: dict  # "test" / "held-out graph" -> per-point losses
    stored_fit: dict  # the fit written with the file (of the test loss)

    def fit(self, which: str = "test") -> dict:
        from roma_core.eval.scaling import fit_power_law

        return fit_power_law(self.params, self.losses[which])


def load_scaling(path) -> Scaling:
    """A ``roma scaling`` result: its ``scaling.json`` or ``scaling.nc`` (or the folder
    holding them)."""
    p = Path(path).expanduser()
    if p.is_dir():
        found = [p / n for n in ("scaling.json", "scaling.nc") if (p / n).exists()]
        if not found:
            raise FileFormatError(f"{p}: no scaling.json or scaling.nc here; `roma scaling --out {p}` writes them")
        p = found[0]
    if not p.exists():
        raise FileFormatError(f"{p}: no such file; give a scaling.json or scaling.nc written by `roma scaling`")
    try:
        if p.suffix == ".nc":
            import xarray as xr

            with xr.open_dataset(p) as ds:
                attrs = dict(ds.attrs)
                cols = {k: np.asarray(ds[k].values, dtype=float) for k in ds.data_vars}
                cols["hidden"] = np.asarray(ds["hidden"].values) if "hidden" in ds.coords else None
            fit = {k[4:]: (json.loads(v) if isinstance(v, str) else v) for k, v in attrs.items() if k.startswith("fit_")}
            kind, model = attrs.get("roma_kind"), str(attrs.get("model", "?"))
        else:
            data = json.loads(p.read_text())
            kind, model, fit = data.get("roma_kind"), str(data.get("model", "?")), data.get("fit", {})
            pts = data["points"]
            cols = {k: np.array([_number(q.get(k)) for q in pts]) for k in ("params", "test_rel_l2", "heldout_rel_l2")}
            cols["hidden"] = np.array([q.get("hidden", -1) for q in pts])
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FileFormatError(f"{p}: not a readable scaling result ({type(exc).__name__}: {exc})") from exc
    if kind != "scaling":
        raise FileFormatError(f"{p}: roma_kind is {kind!r}, not 'scaling'; give the output of `roma scaling`")
    if "params" not in cols or "test_rel_l2" not in cols:
        raise FileFormatError(f"{p}: the points lack 'params' or 'test_rel_l2'")
    losses = {"test": cols["test_rel_l2"]}
    held = cols.get("heldout_rel_l2")
    if held is not None and np.all(np.isfinite(held)):
        losses["held-out graph"] = held
    hidden = cols.get("hidden")
    return Scaling(path=str(p), model=model, params=cols["params"], losses=losses, stored_fit=fit,
                   hidden=np.full(len(cols["params"]), -1) if hidden is None else hidden)


def power_law_band(params, losses, grid, *, bootstrap: int = 2000, level: float = 0.95, seed: int = 0):
    """Pointwise ``level`` band of the fitted line log L = log A - α log P over ``grid``,
    from a bootstrap over the points (resamples with fewer than 2 distinct P skipped)."""
    x, y = np.log(np.asarray(params, float)), np.log(np.asarray(losses, float))
    idx = np.random.default_rng(seed).integers(0, len(x), (bootstrap, len(x)))
    xb, yb = x[idx], y[idx]
    xm, ym = xb.mean(axis=1, keepdims=True), yb.mean(axis=1, keepdims=True)
    var = ((xb - xm) ** 2).sum(axis=1)
    ok = var > 1e-12 * max(float(np.ptp(x)) ** 2, 1e-300)
    slope = ((xb - xm) * (yb - ym)).sum(axis=1)[ok] / var[ok]
    icpt = ym[ok, 0] - slope * xm[ok, 0]
    lines = icpt[:, None] + slope[:, None] * np.log(np.asarray(grid, float))[None, :]
    lo, hi = np.quantile(lines, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0)
    return np.exp(lo), np.exp(hi)


def scaling_files(roots=SCALING_ROOTS) -> list[Path]:
    """Scaling results shipped under ``roots`` (scaling.json, or scaling.nc where no JSON
    sits beside it), newest first."""
    found = []
    for root in roots:
        if not Path(root).is_dir():
            continue
        for p in Path(root).rglob("scaling.*"):
            if p.name == "scaling.json" or (p.name == "scaling.nc" and not p.with_suffix(".json").exists()):
                found.append(p)
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def _label(path) -> str:
    p = Path(path)
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


# ------------------------------------------------------------------ training job
def train_run(trajectory: str, model: str, model_spec: ModelSpec, train_spec: TrainSpec, out: str,
              progress=None) -> dict:
    """Train ``model`` on the trajectory store into ``out`` (for a background job);
    returns the run's summary (the trained module is not kept: the checkpoint holds it)."""
    from roma_core.train import train
    from roma_core.train.data import load_windows

    windows = load_windows(trajectory, model_spec, train_spec)
    if progress is not None:
        progress(0, max(train_spec.steps, 1))  # a cancel while the windows were read stops here
    res = train(windows, model, model_spec, train_spec, out, progress=progress)
    return {"out": str(out), "model": model, "params": int(res["params"]), "steps": int(res["steps"]),
            "loss": res.get("loss")}


# ------------------------------------------------------------------ the view
class TrainingView(pn.viewable.Viewer):
    """Loss curves of a run (live while it trains), small training runs, and the
    power-law scaling of test loss with model size."""

    session = param.ClassSelector(class_=Session, doc="the browser session's shared state")
    run = param.Selector(default="", objects=[""], check_on_set=False, label="Run followed")
    run_path = param.String(default="", label="Open another run folder")
    model = param.Selector(default="roma", objects=list(MODELS), label="Model")
    model_spec = param.ClassSelector(class_=ModelSpec, doc="the next run's model sizes")
    train_spec = param.ClassSelector(class_=TrainSpec, doc="the next run's training settings")
    scaling = param.Selector(default=None, objects=[], allow_None=True, check_on_set=False, label="Scaling result")
    scaling_path = param.String(default="", label="Open a scaling result (scaling.json / .nc / its folder)")
    scaling_loss = param.Selector(default="test", objects=["test"], label="Loss")
    smoothing = param.Number(default=0.9, bounds=(0.0, 0.99), step=0.01,
                             label="Smoothing of the train curves (moving-average weight)")
    status = param.String(default="", doc="what the view is doing or what went wrong")
    run_text = param.String(default="", doc="the followed run: model, steps, elapsed, rates")
    scaling_text = param.String(default="", doc="the fitted exponent and its interval")

    def __init__(self, session: Session | None = None, run=None, trajectory=None, scaling=None, **params):
        if session is None:
            session = Session(run=str(run or ""), trajectory=str(trajectory or ""))
        params.setdefault("model_spec", ModelSpec(**VIEW_MODEL_DEFAULTS))
        params.setdefault("train_spec", TrainSpec(**VIEW_TRAIN_DEFAULTS))
        super().__init__(session=session, **params)
        self.job = Job(session)
        self._log: MetricsLog | None = None
        self._buffers: dict = {}
        self._ema: dict = {}
        self._shown: list[str] = []
        self._live: str | None = None  # run dir being trained by this view
        self._live_steps = 0
        self._queued = None
        self._tmpdir: Path | None = None
        self._counter = itertools.count(1)
        self._callback = None
        self._scaling: Scaling | None = None
        self._loss_pane = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-train-loss"])
        self._scaling_pane = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-train-scaling"])
        self._table = pn.pane.Markdown("", css_classes=["roma-train-points"], margin=(0, 10), width=SCALING_WIDTH)
        runs = [str(run)] if run else []
        if session.run and session.run not in runs:
            runs.append(session.run)
        if DEFAULT_RUN.exists() and str(DEFAULT_RUN) not in runs:
            runs.append(str(DEFAULT_RUN))
        self.param.run.objects = runs or [""]
        self._build_widgets()
        self.param.watch(self._on_run, "run")
        self.param.watch(lambda e: self._redraw_loss(), "smoothing")
        self.session.param.watch(self._on_session_run, "run")
        self._init_scaling(scaling)
        self.run = runs[0] if runs else ""
        if not runs:
            self._follow("")
        doc = pn.state.curdoc
        if doc is not None and doc.session_context is not None:  # served: poll, and tidy up at the end
            self._start_polling()
            doc.on_session_destroyed(lambda _ctx: self.cleanup())

    # ------------------------------------------------------------ following a run
    def _on_run(self, event) -> None:
        self._follow(event.new or "")

    def _on_session_run(self, event) -> None:
        if event.new and event.new != self.run:
            self._add_run(event.new)
            self.run = event.new

    def _add_run(self, path: str) -> None:
        if path not in self.param.run.objects:
            self.param.run.objects = [path] + [p for p in self.param.run.objects if p]

    def _follow(self, path: str) -> None:
        """Show the run at ``path`` (re-reading its whole log)."""
        self._log = MetricsLog(Path(path) / "metrics.jsonl") if path else None
        if self._log is not None:
            self._log.poll()
        self._redraw_loss()

    def poll(self) -> int:
        """Read the followed log's new lines and stream them to the curves; returns how
        many records arrived (the periodic callback of a served session calls this)."""
        log = self._log
        if log is None:
            return 0
        before = log.lines
        new_t, new_v, restarted = log.poll()
        arrived = log.lines - (0 if restarted else before)
        if restarted or log.present() != self._shown:
            self._redraw_loss()
        elif arrived:
            for column, buf in self._buffers.items():
                if column == "rel_l2":
                    if new_v["step"]:
                        buf.send(series_frame(new_v["step"], new_v["rel_l2"], column))
                elif new_t["step"]:
                    key = column.removesuffix(SMOOTH)
                    values = new_t[key] if column == key else self._smooth(key, new_t[key])
                    buf.send(series_frame(new_t["step"], values, column))
            self._describe_run()
        return arrived

    def _smooth(self, key: str, values) -> list:
        """Debiased exponential moving average of a train series, continued from where
        the previous call left off (so streamed chunks join up)."""
        w = float(self.smoothing)
        last, n = self._ema.get(key, (0.0, 0))
        out = []
        for v in values:
            if math.isfinite(v):
                last, n = w * last + (1 - w) * v, n + 1
            out.append(last / (1 - w ** n) if n else math.nan)
        self._ema[key] = (last, n)
        return out

    def _start_polling(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.poll, period=POLL_MS)

    def _redraw_loss(self) -> None:
        log = self._log
        self._shown = log.present() if log is not None else []
        self._buffers, self._ema = {}, {}
        opts = dict(logy=True, responsive=False, width=LOSS_WIDTH, height=380, xlabel="step", ylabel="loss / rel. L2",
                    show_grid=True, toolbar="above", title=self._loss_title())
        if not self._shown:
            self._loss_pane.object = hv.Curve(series_frame([], [], "loss"), "step", "loss").opts(**opts)
            self._describe_run()
            return
        columns = (["loss"] if "loss" in self._shown else []) + [k + SMOOTH for k in self._shown if k != "rel_l2"]
        frames = {c: series_frame(log.train["step"], log.train[c] if c == "loss" else
                                  self._smooth(c.removesuffix(SMOOTH), log.train[c.removesuffix(SMOOTH)]), c)
                  for c in columns}
        if "rel_l2" in self._shown:
            frames["rel_l2"] = log.frame("rel_l2")
        layers = []
        for column, frame in frames.items():
            buf = hv.streams.Buffer(frame, length=BUFFER_ROWS, index=False)
            self._buffers[column] = buf
            layers.append(hv.DynamicMap(functools.partial(_series_element, column), streams=[buf]))
            if column == "rel_l2":
                layers.append(hv.DynamicMap(functools.partial(_series_marks, column), streams=[buf]))
        self._loss_pane.object = functools.reduce(operator.mul, layers).opts(
            legend_position="top_right", legend_opts={"background_fill_alpha": 0.7}, **opts)
        self._describe_run()

    def _loss_title(self) -> str:
        if not self.run:
            return "no run followed"
        return f"training curves: {Path(self.run).name}" + (" (training…)" if self._live == self.run else "")

    def _describe_run(self) -> None:
        log = self._log
        if log is None:
            self.run_text = "No run followed: open a run folder, or train one on the left."
            return
        info = run_info(log.path.parent) if self._live != self.run else {}
        name = info.get("model") or (self.model if self._live == self.run else "?")
        total = (info.get("train_spec") or {}).get("steps") or (self._live_steps if self._live == self.run else None)
        step = log.train["step"][-1] if log.train_steps else 0
        parts = [f"**{log.path.parent.name}** · {name}"]
        if info.get("params") is not None:
            parts[-1] += f", {int(info['params']):,} parameters"
        parts.append(f"step {step:,}" + (f" / {int(total):,}" if total else ""))
        parts.append(f"{log.lines:,} log records ({log.train_steps:,} train steps, {log.val_points:,} validations)")
        elapsed, mean, recent = log.rates()
        if math.isfinite(elapsed):
            parts.append(f"elapsed {elapsed:,.1f} s")
        if math.isfinite(mean):
            parts.append(f"{mean:.2f} steps/s (last {min(RECENT, log.train_steps - 1)} steps: {recent:.2f})")
        text = " · ".join(parts)
        if log.train_steps:
            text += f"  \nlast train loss {log.train['loss'][-1]:.4g}"
        if log.val_points:
            v = np.asarray(log.val["rel_l2"])
            if np.isfinite(v).any():
                k = int(np.nanargmin(v))
                text += f" · best validation rel. L2 {v[k]:.4g} (step {log.val['step'][k]:,})"
        if log.skipped:
            text += f" · ⚠ {log.skipped} unreadable line(s) skipped"
        if not log.lines:
            text += "  \nNo records yet" + (" (the run is starting)" if self._live == self.run else
                                            f": {log.path} is empty or missing")
        text += f"  \nfolder: `{log.path.parent}`"
        if self.session.run and Path(self.session.run) == log.path.parent:
            text += "  \nThis is the session's run: the Forecast and Attention views show it."
        self.run_text = text

    def _on_open_run(self, event=None) -> None:
        path = self.run_path.strip()
        if not path:
            return
        p = Path(path).expanduser()
        if not p.is_dir():
            self.status = f"⚠ {p} is not a folder; give a run directory (roma train --out DIR)"
            return
        self.status = ""
        self._add_run(str(p))
        self.run = str(p)

    # ------------------------------------------------------------ training
    def _new_run_dir(self) -> Path:
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="roma-train-"))
        while True:
            out = self._tmpdir / f"{self.model}_{next(self._counter):03d}"
            if not out.exists():
                return out

    def train(self, wait: bool = False) -> bool:
        """Train ``model`` on the session's trajectory with the current specs in the
        background (queued behind another job of the session); ``wait`` blocks until it
        finished (notebooks). Returns False when it could not start."""
        traj = self.session.trajectory
        if not traj:
            self.status = "⚠ no trajectory to train on: run a simulation in the Simulate view first"
            return False
        try:
            mspec = ModelSpec.from_dict(self.model_spec.to_dict())  # frozen copies of the widgets' values
            tspec = TrainSpec.from_dict(self.train_spec.to_dict())
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return False
        self.status = ""
        out = self._new_run_dir()
        args = (train_run, traj, self.model, mspec, tspec, str(out))
        kwargs = dict(on_done=self._on_trained, on_error=self._on_failed,
                      label=f"Training {self.model} on {Path(traj).name} ({tspec.steps} steps)")
        started = self._launch(out, tspec.steps, args, kwargs)
        if started and wait:
            while self._queued is not None:
                other = running_job(self.session)
                if other is not None and other is not self.job:
                    other.wait()
            self.job.wait()
        return started

    def _launch(self, out: Path, steps: int, args, kwargs) -> bool:
        """Start the job, or queue it behind the session's running job."""
        if self.job.start(*args, **kwargs):
            self._queued = None
            self._live, self._live_steps = str(out), steps
            self._add_run(str(out))
            self.run = str(out)
            return True
        other = running_job(self.session)
        if other is None or other is self.job:
            return False
        self._queued = (out, steps, args, kwargs)
        self.status = f"Waiting for “{other.label}” to finish; training starts then (Cancel drops it)."
        self._cancel_button.visible = True

        def again(event):
            if event.new:
                return
            other.param.unwatch(watcher)
            queued, self._queued = self._queued, None
            if queued is not None:
                self.status = ""
                self._launch(*queued)
            self._cancel_button.visible = self.job.running or self._queued is not None

        watcher = other.param.watch(again, "running")
        return True

    def _on_trained(self, result: dict) -> None:
        out = result["out"]
        self._live = None
        self.poll()
        self._redraw_loss()  # the title loses "training…"; the checkpoint's numbers appear
        self.session.run = out
        self._describe_run()
        what = (f"{result['steps']:,} steps, {result['params']:,} parameters" if result["params"]
                else "a model without parameters: nothing to optimise, checkpoint written")
        self.status = f"Trained {result['model']} ({what}); the Forecast and Attention views now show it."

    def _on_failed(self, exc) -> None:
        self._live = None
        self.poll()
        self._redraw_loss()

    def _on_cancel(self, event=None) -> None:
        if self._queued is not None:
            self._queued = None
            self.status = "Queued training run dropped."
            self._cancel_button.visible = self.job.running
            return
        self.job.cancel()

    def _on_job_running(self, event) -> None:
        if not event.new and self._live is not None:  # ended without on_done/on_error: cancelled
            self._live = None  # the partial curves stay; the session's run does not change
            self.poll()
            self._redraw_loss()
        self._cancel_button.visible = event.new or self._queued is not None

    def cleanup(self) -> None:
        """Stop polling, cancel a running job, and delete this view's temporary runs once
        nothing writes there any more (runs the user opened are kept)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        self._queued = None
        tmp, self._tmpdir = self._tmpdir, None
        if tmp is None:
            return
        if self.job.running and self.job.future is not None:
            self.job.cancel()
            self.job.future.add_done_callback(lambda _f: shutil.rmtree(tmp, ignore_errors=True))
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    # ------------------------------------------------------------ scaling
    def _init_scaling(self, given) -> None:
        files = [str(p) for p in scaling_files()]
        env = os.environ.get("ROMA_APP_SCALING")
        for extra in (env, given):
            if extra and str(extra) not in files:
                files.insert(0, str(extra))
        self.param.scaling.objects = {_label(p): p for p in files}
        self._scaling_select.options = dict(self.param.scaling.objects)
        self._scaling_select.visible = bool(files)
        self.param.watch(lambda e: self._open_scaling(e.new), "scaling")
        self.param.watch(lambda e: self._draw_scaling(), "scaling_loss")
        if files:
            self.scaling = str(given) if given else files[0]
        else:
            self._draw_scaling()

    def _open_scaling(self, path) -> None:
        if not path:
            self._scaling = None
            self._draw_scaling()
            return
        try:
            self._scaling = load_scaling(path)
        except RomaError as exc:
            self._scaling = None
            self.scaling_text = f"⚠ {exc}"
            self._scaling_pane.object = self._empty_scaling("could not read the scaling result")
            return
        self.param.scaling_loss.objects = list(self._scaling.losses)
        if self.scaling_loss not in self._scaling.losses:
            self.scaling_loss = "test"
        self._draw_scaling()

    def _on_open_scaling(self, event=None) -> None:
        path = self.scaling_path.strip()
        if not path:
            return
        path = str(Path(path).expanduser())
        objs = dict(self.param.scaling.objects)
        if path not in objs.values():
            objs = {_label(path): path, **objs}
            self.param.scaling.objects = objs
            self._scaling_select.options = objs
        self._scaling_select.visible = True
        if self.scaling == path:
            self._open_scaling(path)
        else:
            self.scaling = path

    @staticmethod
    def _empty_scaling(title: str, note: str = ""):
        empty = hv.Scatter(pd.DataFrame({"parameters": [], "loss": []}), "parameters", "loss")
        text = hv.Text(3e4, 0.03, note or title, fontsize=11).opts(color="#666666")
        return (empty * text).opts(
            logx=True, logy=True, width=SCALING_WIDTH, height=400, title=title, show_grid=True, toolbar="above",
            xlabel="parameters P", ylabel="test rel. L2", xlim=(1e3, 1e6), ylim=(1e-3, 1.0))

    def _draw_scaling(self) -> None:
        s = self._scaling
        if s is None:
            self._scaling_pane.object = self._empty_scaling(
                "no scaling result", "no scaling result shipped:\ntrain a ladder with `roma scaling`")
            self._table.object = ""
            if not self.scaling_text.startswith("⚠"):
                self.scaling_text = ("No scaling result is shipped in assets/ or benchmarks/. Train a ladder "
                                     "with `roma scaling --data STORE --sizes 8,16,24,32,48 --out DIR` and open "
                                     "`DIR/scaling.json` above.")
            return
        which = self.scaling_loss if self.scaling_loss in s.losses else "test"
        loss = s.losses[which]
        try:
            fit = s.fit(which)
        except RomaError as exc:
            self.scaling_text = f"⚠ {exc}"
            self._scaling_pane.object = self._empty_scaling("too few points to fit")
            return
        lo_p, hi_p = float(s.params.min()), float(s.params.max())
        grid = np.geomspace(lo_p / 1.25, hi_p * 1.25, 120)
        band_lo, band_hi = power_law_band(s.params, loss, grid, level=fit["ci_level"])
        line = fit["prefactor"] * grid ** (-fit["alpha"])
        a, (c0, c1), lvl = fit["alpha"], fit["alpha_ci"], fit["ci_level"]
        ylabel = f"{which} rel. L2"
        band = hv.Area(pd.DataFrame({"parameters": grid, "lo": band_lo, "hi": band_hi}), "parameters", ["lo", "hi"],
                       label=f"{lvl:.0%} bootstrap band").opts(color="#4c78a8", alpha=0.2, line_width=0)
        fitted = hv.Curve(pd.DataFrame({"parameters": grid, "loss": line}), "parameters", "loss",
                          label=f"fit L = {fit['prefactor']:.3g}·P^(−{a:.3f})").opts(color="#1f4e79", line_width=2)
        pts = hv.Scatter(pd.DataFrame({"parameters": s.params, "loss": loss, "hidden": s.hidden}), "parameters",
                         ["loss", "hidden"], label=f"{s.model} runs").opts(
            color="#d62728", size=9, tools=["hover"], line_color="white")
        title = f"L ∝ P^(−α): α = {_minus(a)}, {lvl:.0%} CI [{_minus(c0)}, {_minus(c1)}]"
        self._scaling_pane.object = (band * fitted * pts).opts(
            logx=True, logy=True, width=SCALING_WIDTH, height=400, title=title, show_grid=True, toolbar="above",
            xlabel="parameters P", ylabel=ylabel, legend_position="bottom_left", fontsize={"title": 10})
        text = (f"α = {a:.4f} ({lvl:.0%} bootstrap CI [{c0:.4f}, {c1:.4f}]; s.e. {fit['alpha_se']:.4f}; "
                f"R² {fit['r2']:.3f}; {len(loss)} points, {fit['bootstrap']} resamples) · model {s.model}  \n"
                f"`{_label(s.path)}`")
        stored = s.stored_fit.get("alpha")
        if which == "test" and stored is not None and abs(float(stored) - a) > 1e-6 * max(1.0, abs(a)):
            text += f"  \n⚠ the fit stored in the file says α = {float(stored):.4f}; shown: refitted to its points"
        self.scaling_text = text
        rows = "\n".join(f"| {int(h) if h >= 0 else '–'} | {int(p):,} | {l:.4f} |"
                         for h, p, l in zip(s.hidden, s.params, loss))
        self._table.object = f"| hidden | parameters | {ylabel} |\n|---|---|---|\n{rows}"

    # ------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        self._scaling_select = pn.widgets.Select.from_param(self.param.scaling, width=SCALING_WIDTH - 150)
        train = pn.widgets.Button(label="Train", color="primary", sizing_mode="stretch_width",
                                  disabled=self.job.param.running)
        train.on_click(lambda e: self.train())
        self._cancel_button = pn.widgets.Button(label="Cancel", color="light", sizing_mode="stretch_width",
                                                visible=False)
        self._cancel_button.on_click(self._on_cancel)
        self.job.param.watch(self._on_job_running, "running")
        progress = pn.indicators.Progress(value=self.job.param.progress, max=100, visible=self.job.param.running,
                                          sizing_mode="stretch_width", bar_color="primary",
                                          css_classes=["roma-train-progress"])
        model_more = [f for f in ModelSpec._fields() if f not in MODEL_MAIN and f != "channels"]
        train_more = [f for f in TrainSpec._fields() if f not in TRAIN_MAIN]
        open_run = pn.widgets.Button(label="Open", width=60)
        open_run.on_click(self._on_open_run)
        data = pn.pane.Markdown(pn.bind(lambda t: f"Data: `{Path(t).name}` (the session's trajectory)" if t
                                        else "Data: none yet (simulate one first)", self.session.param.trajectory),
                                margin=(0, 10), css_classes=["roma-train-data"])
        self._controls = pn.Column(
            pn.pane.Markdown("**Follow a run**", margin=(0, 10)),
            pn.widgets.Select.from_param(self.param.run, sizing_mode="stretch_width"),
            pn.Row(pn.widgets.TextInput.from_param(self.param.run_path, placeholder="/path/to/run", width=220),
                   open_run, align="end"),
            pn.pane.Markdown("**Train a model**", margin=(10, 10, 0, 10)), data,
            pn.widgets.Select.from_param(self.param.model, sizing_mode="stretch_width"),
            train, progress,
            pn.pane.Markdown(self.job.param.status, css_classes=["roma-train-job"], margin=(0, 10)),
            self._cancel_button,
            pn.Param(self.train_spec, parameters=list(TRAIN_MAIN), show_name=False, width=270),
            pn.Param(self.model_spec, parameters=list(MODEL_MAIN), show_name=False, width=270),
            pn.Card(pn.Param(self.train_spec, parameters=train_more, show_name=False, width=270),
                    title="More training settings", collapsed=True, width=290),
            pn.Card(pn.Param(self.model_spec, parameters=model_more, show_name=False, width=270),
                    title="More model settings", collapsed=True, width=290),
            width=310, height=860, scroll=True)

    def __panel__(self):
        if self._callback is None and pn.state.curdoc is None:  # a notebook: poll from its event loop
            try:
                self._start_polling()
            except Exception:  # pragma: no cover - no event loop (plain script): poll() by hand
                pass
        status = pn.pane.Markdown(self.param.status, css_classes=["roma-train-status"], margin=(0, 10))
        run_text = pn.pane.Markdown(self.param.run_text, css_classes=["roma-train-stats"], margin=(0, 10),
                                    width=LOSS_WIDTH)
        scaling_text = pn.pane.Markdown(self.param.scaling_text, css_classes=["roma-train-alpha"],
                                        margin=(0, 10), width=SCALING_WIDTH)
        smoothing = pn.widgets.FloatSlider.from_param(self.param.smoothing, width=LOSS_WIDTH - 40)
        open_scaling = pn.widgets.Button(label="Open", width=60)
        open_scaling.on_click(self._on_open_scaling)
        scaling_controls = pn.Column(
            pn.pane.Markdown("**Scaling: test loss vs parameters**", margin=(0, 10)),
            pn.Row(self._scaling_select,
                   pn.widgets.RadioButtonGroup.from_param(self.param.scaling_loss, width=130, align="end")),
            pn.Row(pn.widgets.TextInput.from_param(self.param.scaling_path, placeholder="/path/to/scaling.json",
                                                   width=SCALING_WIDTH - 80), open_scaling, align="end"))
        return pn.Row(self._controls,
                      pn.Column(status, smoothing, self._loss_pane, run_text),
                      pn.Column(scaling_controls, self._scaling_pane, scaling_text, self._table))


def _minus(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}f}".replace("-", "−")


def _series_element(key: str, data: pd.DataFrame):
    label, colour, width, alpha = STYLE[key]
    return hv.Curve(data, "step", key, label=label).opts(color=colour, line_width=width, alpha=alpha,
                                                         framewise=True, tools=["hover"])


def _series_marks(key: str, data: pd.DataFrame):
    label, colour, _, _ = STYLE[key]
    return hv.Scatter(data, "step", key, label=label).opts(color=colour, size=6, framewise=True)


__all__ = ["TrainingView", "MetricsLog", "Scaling", "load_scaling", "power_law_band", "scaling_files",
           "train_run", "run_info"]
