"""Launching training runs from the view: the background job, its queueing behind the
session's running job, cancel, and the launch form's widgets (:class:`Launching`, a mixin
of the Training view: it uses the view's session, job, specs, status and run list)."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import panel as pn

from roma_core.dynamics.simulate import device_label
from roma_core.errors import RomaError
from roma_core.specs import ModelSpec, TrainSpec

from ...cards import lazy_card
from ...jobs import running_job

MODEL_MAIN = ("lookback", "horizon", "hidden", "heads", "layers", "levels", "supernodes")
TRAIN_MAIN = ("task", "steps", "lr", "roots", "walk_length", "windows", "eval_every", "seed")


LAUNCH = "launch.json"  # in a run folder launched from the view: the trajectory it trains on


def train_run(trajectory: str, model: str, model_spec: ModelSpec, train_spec: TrainSpec, out: str,
              progress=None, resume: bool = False) -> dict:
    """Train ``model`` on the trajectory store into ``out`` (for a background job), or with
    ``resume`` continue from the last checkpoint there (the trained module is not kept: the
    checkpoint holds it).

    Parameters
    ----------
    trajectory : str
        The trajectory store.
    model : str
        A model name of the registry.
    model_spec : ModelSpec
        The model's specification.
    train_spec : TrainSpec
        The training's specification.
    out : str
        The run directory (created; ``launch.json`` records the trajectory and model).
    progress : callable, optional
        ``progress(step, steps)``.
    resume : bool
        Continue the run in ``out``.

    Returns
    -------
    dict
        The run's summary: ``out``, ``model``, ``params``, ``steps`` and ``loss``.
    """
    from roma_core.train import train
    from roma_core.train.data import load_windows

    windows = load_windows(trajectory, model_spec, train_spec)
    if progress is not None:
        progress(0, max(train_spec.steps, 1))  # a cancel while the windows were read stops here
    if not resume:
        Path(out).mkdir(parents=True, exist_ok=True)
        tmp = Path(out) / f".{LAUNCH}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps({"trajectory": str(trajectory), "model": model}))
        os.replace(tmp, Path(out) / LAUNCH)
    res = train(windows, model, model_spec, train_spec, out, progress=progress, resume=resume)
    return {"out": str(out), "model": model, "params": int(res["params"]), "steps": int(res["steps"]),
            "loss": res.get("loss")}


class Launching:
    """Training runs launched from the view (mixed into :class:`TrainingView`)."""

    def _new_run_dir(self) -> Path:
        """A new folder of the session's workspace (kept, listed after a restart), or of this
        view's temporary folder without a workspace."""
        if self.session.workspace is not None:
            return self.session.job_folder("train") / f"{self.model}_{next(self._counter):03d}"
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="roma-train-"))
        while True:
            out = self._tmpdir / f"{self.model}_{next(self._counter):03d}"
            if not out.exists():
                return out

    def train(self, wait: bool = False) -> bool:
        """Train ``model`` on the session's trajectory with the current specs in the
        background (queued behind another job of the session).

        Parameters
        ----------
        wait : bool
            Block until it finished (notebooks).

        Returns
        -------
        bool
            False when it could not start (the reason is in ``status``).
        """
        traj = self.session.trajectory
        if not traj:
            self.status = "⚠ no trajectory to train on: run a simulation in the Simulate view first"
            return False
        try:
            mspec = ModelSpec.from_dict(self.model_spec.to_dict())  # frozen copies of the widgets' values
            tspec = TrainSpec.from_dict(self.train_spec.to_dict())
            where = device_label(tspec.device)
        except RomaError as exc:
            self.status = f"⚠ {exc}"
            return False
        self.status = ""
        out = self._new_run_dir()
        args = (train_run, traj, self.model, mspec, tspec, str(out))
        kwargs = dict(on_done=self._on_trained, on_error=self._on_failed, needs=dict(steps=tspec.steps),
                      label=f"Training {self.model} on {Path(traj).name} ({tspec.steps} steps, {where})")
        started = self._launch(out, tspec.steps, args, kwargs)
        if started and wait:
            while self._queued is not None:
                other = running_job(self.session)
                if other is not None and other is not self.job:
                    other.wait()
            self.job.wait()
        return started

    def resume(self, wait: bool = False) -> bool:
        """Continue the followed run from its last checkpoint (a run launched from this view
        that stopped early, e.g. when the server was killed).

        Parameters
        ----------
        wait : bool
            Block until it finished.

        Returns
        -------
        bool
            False when it could not start (the reason is in ``status``).
        """
        from roma_core.train.checkpoint import read_state

        run = self.run
        try:
            launch = json.loads((Path(run) / LAUNCH).read_text()) if run else None
        except (OSError, ValueError):
            launch = None
        if launch is None:
            self.status = "⚠ only a run started from this view can be resumed here (use `roma train --resume`)"
            return False
        try:
            traj = self.session.resolve(launch["trajectory"])
            state = read_state(run)
            mspec, tspec = ModelSpec.from_dict(state["model_spec"]), TrainSpec.from_dict(state["train_spec"])
        except (RomaError, KeyError) as exc:
            self.status = f"⚠ cannot resume {Path(run).name}: {exc}"
            return False
        if state["step"] >= tspec.steps:
            self.status = f"{Path(run).name} finished all {tspec.steps:,} steps; nothing to resume"
            return False
        self.status = ""
        args = (train_run, traj, state["model"], mspec, tspec, run)
        kwargs = dict(on_done=self._on_trained, on_error=self._on_failed, needs=dict(steps=tspec.steps), resume=True,
                      label=f"Resuming {Path(run).name} at step {state['step']:,} of {tspec.steps:,}")
        started = self._launch(Path(run), tspec.steps, args, kwargs)
        if started and wait:
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

    def _launch_form(self) -> list:
        """The widgets of the launch form: model, Train, progress, Cancel and the specs."""
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
        data = pn.pane.Markdown(pn.bind(lambda t: f"Data: `{Path(t).name}` (the session's trajectory)" if t
                                        else "Data: none yet (simulate one first)", self.session.param.trajectory),
                                margin=(0, 10), css_classes=["roma-train-data"])
        return [
            pn.pane.Markdown("**Train a model**", margin=(10, 10, 0, 10)), data,
            pn.widgets.Select.from_param(self.param.model, sizing_mode="stretch_width"),
            train, progress,
            pn.pane.Markdown(self.job.param.status, css_classes=["roma-train-job"], margin=(0, 10)),
            self._cancel_button,
            pn.Param(self.train_spec, parameters=list(TRAIN_MAIN), show_name=False, width=270),
            pn.Param(self.model_spec, parameters=list(MODEL_MAIN), show_name=False, width=270),
            lazy_card(lambda: pn.Param(self.train_spec, parameters=train_more, show_name=False, width=270),
                      "More training settings", width=290),
            lazy_card(lambda: pn.Param(self.model_spec, parameters=model_more, show_name=False, width=270),
                      "More model settings", width=290),
        ]


__all__ = ["train_run", "Launching", "MODEL_MAIN", "TRAIN_MAIN"]
