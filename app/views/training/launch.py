"""The training job a launch from the view runs in the background."""
from __future__ import annotations

from roma_core.specs import ModelSpec, TrainSpec


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


__all__ = ["train_run"]
