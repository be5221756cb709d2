"""Checkpoints: a directory per save, written under a temporary name and renamed.

Layout of ``OUT/ckpt_<step:08d>/``::

    model.safetensors      model weights (safetensors; never pickled)
    optimizer.safetensors  AdamW moments per parameter index (``state.<i>.<name>``) and
                           the torch RNG state (``rng.torch``)
    checkpoint.json             {"roma_kind": "checkpoint", "format": 1, "model": name,
                            "model_spec": {...}, "train_spec": {...}, "step": int,
                            "params": int, "features": "phase"|"identity", "norm": [mean, std]|null,
                            "graph_fingerprint": str, "elapsed": s, "rng": [numpy state per rank],
                            "param_groups": [...], "sha256": {file: hex}, ...}

``OUT/checkpoint.json`` ({"roma_kind": "checkpoint", "latest": "ckpt_<step>"}) points at
the newest complete checkpoint; older ones beyond ``keep`` are removed. ``load(path)`` accepts ``OUT`` or a ``ckpt_*`` directory.
``OUT/.roma`` marks the run folder as written by ROMA (see :mod:`roma_core.data.store`).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..data.store import mark
from ..errors import CheckpointError, SpecError
from ..specs import REMOVED_OPTIONS

FORMAT = 1
FILES = ("model.safetensors", "optimizer.safetensors", "checkpoint.json")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _optimizer_tensors(optimizer) -> tuple[dict, list]:
    if optimizer is None:
        return {}, []
    sd = optimizer.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for name, value in st.items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            tensors[f"state.{idx}.{name}"] = t.detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def save(out, model, optimizer, state: dict, *, rng_torch: torch.Tensor | None = None, keep: int = 2) -> Path:
    """Write a checkpoint of ``model`` (+ ``optimizer``) at ``state['step']``; returns its dir.

    Parameters
    ----------
    out : str or Path
        The run folder (created and marked as ROMA's).
    model : torch.nn.Module
        Its weights are saved.
    optimizer : torch.optim.Optimizer
        Its state is saved.
    state : dict
        The record written to ``checkpoint.json``; ``state['step']`` names the checkpoint.
    rng_torch : torch.Tensor, optional
        The torch RNG state, saved with the optimizer.
    keep : int
        Checkpoints kept (the newest ones).

    Returns
    -------
    Path
        The new ``ckpt_*`` folder.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    mark(out, "run")
    step = int(state["step"])
    final = out / f"ckpt_{step:08d}"
    tmp = out / f".ckpt_{step:08d}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(weights, str(tmp / "model.safetensors"), metadata={"roma_kind": "checkpoint"})
    opt, groups = _optimizer_tensors(optimizer)
    if rng_torch is not None:
        opt["rng.torch"] = rng_torch.cpu()
    save_file(opt, str(tmp / "optimizer.safetensors"), metadata={"roma_kind": "checkpoint-optimizer"})
    meta = {"roma_kind": "checkpoint", "format": FORMAT, **state, "param_groups": groups,
            "sha256": {f: _sha256(tmp / f) for f in FILES[:2]}}
    (tmp / "checkpoint.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    pointer = out / f".checkpoint.json.{os.getpid()}.tmp"
    pointer.write_text(json.dumps({"roma_kind": "checkpoint", "latest": final.name, "step": step}))
    os.replace(pointer, out / "checkpoint.json")
    for old in sorted(out.glob("ckpt_*"))[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def resolve(path) -> Path:
    """The checkpoint directory meant by ``path`` (a run directory or a ``ckpt_*`` one).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Path

    Raises
    ------
    CheckpointError
        If there is no checkpoint there.
    """
    path = Path(path)
    if (path / "checkpoint.json").exists():
        try:
            latest = json.loads((path / "checkpoint.json").read_text()).get("latest")
        except ValueError:
            latest = None
        return path / latest if latest else path
    cands = sorted(path.glob("ckpt_*")) if path.is_dir() else []
    if cands:
        return cands[-1]
    raise CheckpointError(f"{path}: no checkpoint here (expected checkpoint.json or ckpt_* directories); "
                          f"train with `roma train --out {path}` first")


def read_state(path) -> dict:
    """The record of the checkpoint meant by ``path`` (see :func:`resolve`), its files'
    sha256 checked; older records get the defaults of fields added since.

    Parameters
    ----------
    path : str or Path
        A run folder (its latest checkpoint) or one ``ckpt_*`` folder.

    Returns
    -------
    dict
        The contents of its ``checkpoint.json``, plus ``path`` (the ``ckpt_*`` folder).

    Raises
    ------
    CheckpointError
        If there is no checkpoint, its record is unreadable or of another format, or a file
        is missing or altered.
    """
    d = resolve(path)
    try:
        state = json.loads((d / "checkpoint.json").read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{d}/checkpoint.json is unreadable or not JSON ({exc}); the checkpoint is corrupted") from exc
    if state.get("roma_kind") != "checkpoint" or state.get("format") != FORMAT:
        raise CheckpointError(f"{d}: not a ROMA checkpoint of format {FORMAT}")
    for name, digest in state.get("sha256", {}).items():
        if not (d / name).exists() or _sha256(d / name) != digest:
            raise CheckpointError(f"{d}/{name} is missing or its sha256 differs from checkpoint.json: the "
                                  f"checkpoint is corrupted; use an older ckpt_* directory or retrain")
    state["path"] = str(d)
    if isinstance(state.get("model_spec"), dict):      # written before the phase gauge existed
        state["model_spec"].setdefault("phase_gauge", False)
        state["model_spec"].setdefault("near_field", 0)
        state["model_spec"].setdefault("near_frame", "global")    # ... and before the node frame
        state["model_spec"].setdefault("predictive", "point")     # ... and before learned distributions
        for name, (off, _) in REMOVED_OPTIONS.items():             # options taken out since, if left off
            if state["model_spec"].get(name, off) == off:          # (ModelSpec.from_dict refuses them on)
                state["model_spec"].pop(name, None)
    if isinstance(state.get("train_spec"), dict):      # ... and before the learning-rate schedule
        state["train_spec"].setdefault("lr_schedule", "constant")
    return state


def _load_tensors(path: Path) -> dict:
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable safetensors file ({exc})") from exc


def load_model(path, *, expect_spec=None, device="cpu"):
    """A model rebuilt from a checkpoint.

    Parameters
    ----------
    path : str or os.PathLike
        A run folder (its latest checkpoint) or one ``ckpt_*`` folder.
    expect_spec : roma_core.specs.ModelSpec, optional
        A spec the checkpoint must match.
    device : str or torch.device
        Where the weights are loaded.

    Returns
    -------
    model : torch.nn.Module
        With the trained weights.
    state : dict
        The checkpoint's record (specs, step, features, normalisation, graphs, path).

    Raises
    ------
    roma_core.errors.CheckpointError
        For a missing or damaged checkpoint, or one that does not match ``expect_spec``.
    """
    from ..models import build
    from ..specs import ModelSpec

    state = read_state(path)
    try:
        spec = ModelSpec.from_dict(state["model_spec"])
    except (SpecError, KeyError) as exc:
        raise CheckpointError(f"{state['path']}: invalid model spec in checkpoint.json ({exc})") from exc
    if expect_spec is not None and spec.to_dict() != expect_spec.to_dict():
        diff = {k: (v, expect_spec.to_dict().get(k)) for k, v in spec.to_dict().items()
                if expect_spec.to_dict().get(k) != v}
        raise CheckpointError(f"{state['path']}: checkpoint spec differs from the requested one "
                              f"(checkpoint, requested): {diff}")
    model = build(state["model"], spec)
    load_weights(model, Path(state["path"]) / "model.safetensors")
    return model.to(device), state


def load_weights(model, file) -> None:
    """Load a safetensors file of weights into ``model`` in place.

    Parameters
    ----------
    model : torch.nn.Module
    file : str or Path
        A ``model.safetensors`` file.

    Raises
    ------
    CheckpointError
        If the file is unreadable or its tensors do not fit the model (names or shapes).
    """
    tensors = _load_tensors(Path(file))
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    bad = sorted(k for k in set(own) & set(tensors) if own[k].shape != tensors[k].shape)
    if missing or extra or bad:
        raise CheckpointError(f"{file}: weights do not fit this model (missing {missing[:5]}, unexpected "
                              f"{extra[:5]}, wrong shape {bad[:5]}); was it trained with another spec?")
    model.load_state_dict(tensors)


def load_optimizer(optimizer, state: dict) -> torch.Tensor | None:
    """Restore AdamW state in place; returns the saved torch RNG state (or None).

    Parameters
    ----------
    optimizer : torch.optim.Optimizer or None
        Restored in place (None: only the RNG state is read).
    state : dict
        The checkpoint's record (:func:`read_state`).

    Returns
    -------
    torch.Tensor or None

    Raises
    ------
    CheckpointError
        If the optimizer file is unreadable or its state does not fit ``optimizer``.
    """
    tensors = _load_tensors(Path(state["path"]) / "optimizer.safetensors")
    per = {}
    for key, value in tensors.items():
        if key.startswith("state."):
            _, idx, name = key.split(".", 2)
            per.setdefault(int(idx), {})[name] = value
    if optimizer is not None:
        try:
            optimizer.load_state_dict({"state": per, "param_groups": state["param_groups"]})
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"{state['path']}: optimizer state does not fit ({exc})") from exc
    return tensors.get("rng.torch")


def describe(path) -> str:
    """One-paragraph summary of a checkpoint, for ``roma info``.

    Parameters
    ----------
    path : str or os.PathLike
        A run folder or checkpoint.

    Returns
    -------
    str
    """
    s = read_state(path)
    spec = s.get("model_spec", {})
    return (f"ROMA checkpoint {s['path']}: model {s.get('model')} with {s.get('params')} parameters "
            f"(hidden {spec.get('hidden')}, lookback {spec.get('lookback')}, horizon {spec.get('horizon')}), "
            f"step {s.get('step')}, task {s.get('train_spec', {}).get('task')}, trained "
            f"{s.get('elapsed', 0):.0f} s on graph {s.get('graph_fingerprint')}")
