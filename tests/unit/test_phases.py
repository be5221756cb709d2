"""Phase models: exact symmetry under a global phase shift, the increments they read,
the checkpoints written before them, and the learning-rate schedule."""
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from roma_core.models import build
from roma_core.models.phases import in_node_frame, phase_steps, turn_phases
from roma_core.specs import ModelSpec, TrainSpec
from tests.unit.test_models import ring_batch, tiny_spec


def unit_phases(batch, seed=0):
    """The batch with (sin θ, cos θ) inputs and field, θ random."""
    g = torch.Generator().manual_seed(seed)
    th = 2 * math.pi * torch.rand(batch.x.shape[:-1], generator=g)
    fth = 2 * math.pi * torch.rand(batch.field.shape[:-1], generator=g)
    nth = 2 * math.pi * torch.rand(batch.near.shape[:-1], generator=g)
    return replace(batch, x=torch.stack([th.sin(), th.cos()], -1), field=torch.stack([fth.sin(), fth.cos()], -1),
                   near=torch.stack([nth.sin(), nth.cos()], -1))


def in_float64(batch):
    return replace(batch, **{k: v.double() for k, v in vars(batch).items()
                             if isinstance(v, torch.Tensor) and v.is_floating_point()})


@pytest.mark.parametrize("name,frame", [("roma", "global"), ("roma", "node"), ("roma_fixed", "global"),
                                        ("deeponet", "global"), ("gnn", "global"), ("transformer", "global"),
                                        ("persistence", "global")])
def test_a_global_phase_shift_shifts_the_forecast_exactly(name, frame):
    spec = tiny_spec(pos_dim=0, near_frame=frame)
    torch.manual_seed(0)
    model = build(name, spec).eval()
    for p in model.parameters():                 # away from the zero-initialised start (persistence)
        torch.nn.init.normal_(p, std=0.3)
    batch = in_float64(unit_phases(ring_batch(spec=spec)))     # float64: random weights amplify rounding
    a = torch.tensor([1.1, -2.5], dtype=torch.float64)
    shifted = replace(batch, x=turn_phases(batch.x, a), field=turn_phases(batch.field, a),
                      near=turn_phases(batch.near, a))
    with torch.no_grad():
        base, moved = model.double()(batch).values, model(shifted).values
    assert base.abs().max() > 0.1
    assert torch.allclose(turn_phases(base, a), moved, atol=1e-9)
    if name != "persistence":                     # a phase model forecasts unit vectors
        assert torch.allclose(base.norm(dim=-1), torch.ones((), dtype=base.dtype), atol=1e-9)


def test_without_the_gauge_a_model_sees_absolute_phases():
    spec = tiny_spec(pos_dim=0, phase_gauge=False)
    torch.manual_seed(0)
    model = build("gnn", spec).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    batch = unit_phases(ring_batch(spec=spec))
    a = torch.tensor([1.1, -2.5])
    with torch.no_grad():
        base = model(batch).values
        moved = model(replace(batch, x=turn_phases(batch.x, a), field=turn_phases(batch.field, a))).values
    assert (turn_phases(base, a) - moved).abs().max() > 1e-2


def test_phase_steps_are_the_wrapped_differences():
    rng = np.random.default_rng(0)
    th = np.cumsum(rng.uniform(-3, 3, (2, 5, 7)), -1)
    x = torch.as_tensor(np.stack([np.sin(th), np.cos(th)], -1))
    want = np.angle(np.exp(1j * np.diff(th, axis=-1)))
    assert np.allclose(phase_steps(x).numpy(), want, atol=1e-12)


def test_checkpoints_from_before_the_gauge_load_without_it():
    """The shipped checkpoint was written before phase models: it loads as it was trained."""
    from roma_core.assets import asset_path
    from roma_core.train.checkpoint import load_model, read_state

    run = asset_path("roma_kuramoto_2k")
    assert "phase_gauge" not in __import__("json").loads(
        next(run.glob("ckpt_*/checkpoint.json")).read_text())["model_spec"]
    model, state = load_model(run)
    assert state["model_spec"]["phase_gauge"] is False and model.spec.phase_gauge is False
    assert model.spec.near_frame == "global"      # written before the node frame too
    assert read_state(run)["train_spec"]["lr_schedule"] == "constant"
    assert ModelSpec().phase_gauge is True


def test_learning_rate_warms_up_then_decays_to_zero():
    from roma_core.train.loop import learning_rate

    spec = TrainSpec(steps=1000, lr=1e-3)
    rates = [learning_rate(spec, s) for s in range(1000)]
    assert rates[0] == pytest.approx(2e-5) and rates[49] == pytest.approx(1e-3)
    assert max(rates) == pytest.approx(1e-3) and rates[-1] < 1e-8
    assert all(b <= a + 1e-15 for a, b in zip(rates[49:], rates[50:]))
    assert learning_rate(TrainSpec(steps=1000, lr=1e-3, lr_schedule="constant"), 999) == 1e-3


def test_node_frame_gives_the_coupling_terms():
    """in_node_frame turns R (sin ψ, cos ψ) into R (sin(ψ − θ_i(t)), cos(ψ − θ_i(t))), the
    terms of the Kuramoto coupling, from angles drawn independently."""
    rng = np.random.default_rng(0)
    th, psi = rng.uniform(-4, 4, (2, 5, 7)), rng.uniform(-4, 4, (2, 5, 3, 7))
    r = rng.uniform(0, 1, (2, 5, 3, 7))
    x = torch.as_tensor(np.stack([np.sin(th), np.cos(th)], -1))
    near = torch.as_tensor(r[..., None] * np.stack([np.sin(psi), np.cos(psi)], -1))
    d = psi - th[:, :, None, :]
    want = r[..., None] * np.stack([np.sin(d), np.cos(d)], -1)
    assert np.allclose(in_node_frame(near, x).numpy(), want, atol=1e-12)


def test_node_frame_is_for_phase_models_only():
    """One channel (Burgers) or the gauge off: the near field stays in the window's frame."""
    assert build("roma", tiny_spec(near_frame="node")).node_frame
    assert not build("roma", tiny_spec(channels=1, near_frame="node")).node_frame
    assert not build("roma", tiny_spec(phase_gauge=False, near_frame="node")).node_frame
