"""Training & scaling view: follow a training run's loss curves live, launch a small run
in the background, and show the scaling laws of error with parameter count of one or
several models.

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

import itertools
import math
import os
import shutil
from pathlib import Path

import numpy as np
import panel as pn
import param

from roma_core.cli.train import MODEL_NAMES as MODELS
from roma_core.errors import RomaError
from roma_core.specs import ModelSpec, TrainSpec

from ...data import DEFAULT_RUN
from ...jobs import Job
from ...pickers import path_field
from ...state import Session
from .curves import LOSS_WIDTH, LossCurves
from .launch import Launching
from .metrics import RECENT, MetricsLog, run_info
from .scaling import SCALING_WIDTH, Scaling, empty_plot, load_scaling, scaling_files, scaling_plot, short_label

VIEW_MODEL_DEFAULTS = dict(hidden=16, supernodes=16, levels=2)  # a small run by default
VIEW_TRAIN_DEFAULTS = dict(steps=60, roots=128, walk_length=8, eval_every=20, device="cpu")
POLL_MS = 1000  # how often a session looks for new lines in the followed log


# ------------------------------------------------------------------ the view
class TrainingView(Launching, pn.viewable.Viewer):
    """Loss curves of a run (live while it trains), small training runs, and the
    scaling laws of several models' errors with model size."""

    session = param.ClassSelector(class_=Session, doc="the browser session's shared state")
    run = param.Selector(default="", objects=[""], check_on_set=False, label="Run followed")
    run_path = param.String(default="", label="Open another run folder")
    model = param.Selector(default="roma", objects=list(MODELS), label="Model")
    model_spec = param.ClassSelector(class_=ModelSpec, doc="the next run's model sizes")
    train_spec = param.ClassSelector(class_=TrainSpec, doc="the next run's training settings")
    scaling = param.Selector(default=None, objects=[], allow_None=True, check_on_set=False, label="Scaling result")
    scaling_path = param.String(default="", label="Open a scaling result (scaling.json / its folder)")
    scaling_loss = param.Selector(default="test", objects=["test"], label="Span")
    smoothing = param.Number(default=0.9, bounds=(0.0, 0.99), step=0.01,
                             label="Smoothing of the train curves (moving-average weight)")
    status = param.String(default="", doc="what the view is doing or what went wrong")
    run_text = param.String(default="", doc="the followed run: model, steps, elapsed, rates")
    scaling_text = param.String(default="", doc="each model's fitted exponent and its interval")

    def __init__(self, session: Session | None = None, run=None, trajectory=None, scaling=None, **params):
        if session is None:
            session = Session(run=str(run or ""), trajectory=str(trajectory or ""))
        params.setdefault("model_spec", ModelSpec(**VIEW_MODEL_DEFAULTS))
        params.setdefault("train_spec", TrainSpec(**VIEW_TRAIN_DEFAULTS))
        super().__init__(session=session, **params)
        self.job = Job(session)
        self._log: MetricsLog | None = None
        self._live: str | None = None  # run dir being trained by this view
        self._live_steps = 0
        self._queued = None
        self._tmpdir: Path | None = None
        self._counter = itertools.count(1)
        self._callback = None
        self._scaling: Scaling | None = None
        self._loss_pane = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-train-loss"])
        self._curves = LossCurves(self._loss_pane, LOSS_WIDTH)
        self._scaling_pane = pn.pane.HoloViews(None, linked_axes=False, css_classes=["roma-train-scaling"])
        self._table = pn.pane.Markdown("", css_classes=["roma-train-points"], margin=(0, 10), width=SCALING_WIDTH)
        runs = [str(run)] if run else []
        if session.run and session.run not in runs:
            runs.append(session.run)
        if DEFAULT_RUN.exists() and str(DEFAULT_RUN) not in runs:
            runs.append(str(DEFAULT_RUN))
        self._set_runs(runs or [""])
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
            self._set_runs([path] + [p for p in self.param.run.objects if p])

    def _set_runs(self, paths: list) -> None:
        """The runs offered, each shown as the workspace shows it (``assets/…`` for the shipped
        one), never as the server's absolute path."""
        ws = self.session.workspace if self.session is not None else None
        self.param.run.objects = {(ws.label(p) if ws is not None and p else short_label(p) if p else ""): p
                                  for p in paths}

    def _follow(self, path: str) -> None:
        """Show the run at ``path`` (re-reading its whole log)."""
        self._log = MetricsLog(Path(path) / "metrics.jsonl") if path else None
        if self._log is not None:
            self._log.poll()
        self._redraw_loss()

    def poll(self) -> int:
        """Read the followed log's new lines and stream them to the curves (the periodic
        callback of a served session calls this).

        Returns
        -------
        int
            How many records arrived.
        """
        log = self._log
        if log is None:
            return 0
        before = log.lines
        new_t, new_v, restarted = log.poll()
        arrived = log.lines - (0 if restarted else before)
        if restarted or log.present() != self._curves.shown:
            self._redraw_loss()
        elif arrived:
            self._curves.stream(new_t, new_v, float(self.smoothing))
            self._describe_run()
        return arrived

    def _start_polling(self) -> None:
        if self._callback is None:
            self._callback = pn.state.add_periodic_callback(self.poll, period=POLL_MS)

    def _redraw_loss(self) -> None:
        self._curves.redraw(self._log, self._loss_title(), float(self.smoothing))
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
        try:
            p = Path(self.session.resolve(path))  # confined to the session's workspace
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return
        if not p.is_dir():
            self.status = f"⚠ {path} is not a folder; give a run directory (roma train --out DIR)"
            return
        self.status = ""
        self._add_run(str(p))
        self.run = str(p)

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
        self.param.scaling.objects = {short_label(p): p for p in files}
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
            self._scaling_pane.object = empty_plot("could not read the scaling result", width=SCALING_WIDTH)
            return
        self.param.scaling_loss.objects = list(self._scaling.spans) or ["test"]
        if self.scaling_loss not in self.param.scaling_loss.objects:
            self.scaling_loss = self.param.scaling_loss.objects[0]
        self._draw_scaling()

    def _on_open_scaling(self, event=None) -> None:
        path = self.scaling_path.strip()
        if not path:
            return
        try:
            path = self.session.resolve(path)  # confined to the session's workspace
        except RomaError as exc:
            self.scaling_text = f"⚠ {exc}"
            return
        objs = dict(self.param.scaling.objects)
        if path not in objs.values():
            objs = {short_label(path): path, **objs}
            self.param.scaling.objects = objs
            self._scaling_select.options = objs
        self._scaling_select.visible = True
        if self.scaling == path:
            self._open_scaling(path)
        else:
            self.scaling = path

    def _draw_scaling(self) -> None:
        s = self._scaling
        if s is None:
            self._scaling_pane.object = empty_plot(
                "no scaling result", "no scaling result shipped:\ntrain a ladder with `roma scaling`", SCALING_WIDTH)
            self._table.object = ""
            if not self.scaling_text.startswith("⚠"):
                self.scaling_text = ("No scaling result is shipped in assets/ or benchmarks/. Train a ladder "
                                     "with `roma scaling --data STORE --models roma,gnn --sizes 8,16,24,32,48 "
                                     "--out DIR` and open `DIR/scaling.json` above.")
            return
        which = self.scaling_loss if self.scaling_loss in s.spans else "test"
        try:
            plot, self.scaling_text, self._table.object = scaling_plot(s, which, SCALING_WIDTH)
        except RomaError as exc:
            self.scaling_text = f"⚠ {exc}"
            self._scaling_pane.object = empty_plot("too few sizes to fit", width=SCALING_WIDTH)
            self._table.object = ""
            return
        self._scaling_pane.object = plot

    # ------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        self._scaling_select = pn.widgets.Select.from_param(self.param.scaling, width=SCALING_WIDTH - 150)
        open_run = pn.widgets.Button(label="Open", width=60)
        open_run.on_click(self._on_open_run)
        resume = pn.widgets.Button(label="Resume", width=70, disabled=self.job.param.running,
                                   description="continue the followed run from its last checkpoint")
        resume.on_click(lambda e: self.resume())
        self._controls = pn.Column(
            pn.pane.Markdown("**Follow a run**", margin=(0, 10)),
            pn.Row(pn.widgets.Select.from_param(self.param.run, width=220), resume, align="end"),
            pn.Row(path_field(self, "run_path", self.session, ("run",), placeholder="/path/to/run", width=220),
                   open_run, align="end"),
            *self._launch_form(),
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
            pn.pane.Markdown("**Scaling: error vs parameters, per model**", margin=(0, 10)),
            pn.Row(self._scaling_select,
                   pn.widgets.RadioButtonGroup.from_param(self.param.scaling_loss, width=130, align="end")),
            pn.Row(path_field(self, "scaling_path", self.session, ("scaling",), placeholder="/path/to/scaling.json",
                              width=SCALING_WIDTH - 80), open_scaling, align="end"))
        return pn.Row(self._controls,
                      pn.Column(status, smoothing, self._loss_pane, run_text),
                      pn.Column(scaling_controls, self._scaling_pane, scaling_text, self._table))


__all__ = ["TrainingView"]
