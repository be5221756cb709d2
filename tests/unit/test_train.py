"""Training loop: learning, checkpoints, bit-for-bit resume, bad checkpoints, DDP."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from roma_core.data.windows import Windows
from roma_core.errors import CheckpointError
from roma_core.graphs import hyperbolic_graph
from roma_core.specs import ModelSpec, TrainSpec
from roma_core.train import checkpoint as ckpt
from roma_core.train import train

ROOT = Path(__file__).resolve().parents[2]


def kuramoto_states(graph, steps=120, dt=0.05, k=1.5, seed=0):
    """Kuramoto phases from the project's simulator (RK4, constant coupling), (time, node)."""
    from roma_core.dynamics import KuramotoSpec, simulate

    ds = simulate(KuramotoSpec(coupling=k, schedule="constant", initial="uniform"), graph,
                  t_end=steps * dt, dt=dt / 5, save_every=5, seed=seed, device="cpu")
    return ds["state"].values[1:]


@pytest.fixture(scope="module")
def windows():
    g = hyperbolic_graph(300, mean_degree=6, seed=2)
    return Windows(g, kuramoto_states(g), lookback=6, horizon=3, features="phase")


def spec():
    return ModelSpec(lookback=6, horizon=3, hidden=16, heads=4, supernodes=8, levels=2, pos_dim=4, basis=8)


def tspec(**kw):
    base = dict(steps=12, windows=2, roots=32, walk_length=4, checkpoint_every=4, eval_every=0, lr=3e-3,
                device="cpu", task="both", collocation=64, noise=0.01)
    return TrainSpec(**{**base, **kw})


def curve(out):
    return [json.loads(l) for l in (Path(out) / "metrics.jsonl").read_text().splitlines()]


def test_windows_split_in_time(windows):
    tr, va, te = (windows.starts(s) for s in ("train", "val", "test"))
    span = windows.lookback + windows.horizon
    assert tr.max() + span <= windows.bounds["train"][1]
    assert va.min() + windows.lookback >= windows.bounds["val"][0]       # targets never in train span
    assert te.min() + windows.lookback >= windows.bounds["test"][0]
    x, y = windows.get(tr[:2], np.array([0, 5, 7]))
    assert x.shape == (2, 3, 6, 2) and y.shape == (2, 3, 3, 2)
    assert np.allclose(x[1, 1, 0], [np.sin(windows.raw[tr[1], 5]), np.cos(windows.raw[tr[1], 5])], atol=1e-6)
    assert np.allclose(y[0, 2, 0, 0], np.sin(windows.raw[tr[0] + 6, 7]), atol=1e-6)


def test_tiny_model_overfits_tiny_data(tmp_path):
    """One window, fixed full graph: relative L2 falls by 10x."""
    g = hyperbolic_graph(60, mean_degree=4, seed=5)
    w = Windows(g, kuramoto_states(g, steps=60), lookback=6, horizon=3, features="phase",
                val_fraction=0.0, test_fraction=0.0, stride=100)
    torch.set_num_threads(1)
    train(w, "roma", spec(), tspec(steps=300, sampler="full", windows=1, task="forecast", noise=0.0,
                                   checkpoint_every=1000, lr=5e-3), tmp_path)
    losses = [r["forecast"] for r in curve(tmp_path) if r["split"] == "train"]
    assert min(losses[-10:]) < losses[0] / 10, (losses[0], losses[-10:])


def test_checkpoint_round_trip_and_resume_is_bit_for_bit(windows, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    train(windows, "roma", spec(), tspec(), full)
    train(windows, "roma", spec(), tspec(), part, max_steps=6)     # "interrupted" after step 6
    assert ckpt.read_state(part)["step"] == 6
    train(windows, "roma", spec(), tspec(), part, resume=True)
    a, b = curve(full), curve(part)
    assert [r["step"] for r in b] == list(range(1, 13))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    ma, _ = ckpt.load_model(full)
    mb, state = ckpt.load_model(part)
    assert state["step"] == 12 and state["model"] == "roma"
    for (k, va), (_, vb) in zip(ma.state_dict().items(), mb.state_dict().items()):
        assert torch.equal(va, vb), k
    assert sorted(p.name for p in full.glob("ckpt_*")) == ["ckpt_00000008", "ckpt_00000012"]
    assert json.loads((full / "checkpoint.json").read_text())["latest"] == "ckpt_00000012"


def test_bad_checkpoints_raise_checkpoint_error(windows, tmp_path):
    out = tmp_path / "run"
    train(windows, "deeponet", spec(), tspec(steps=2, checkpoint_every=2), out)
    good = ckpt.resolve(out)
    with pytest.raises(CheckpointError, match="differs"):
        ckpt.load_model(out, expect_spec=ModelSpec.from_dict({**spec().to_dict(), "hidden": 32, "channels": 2}))
    with pytest.raises(CheckpointError, match="cannot resume"):
        train(windows, "roma", spec(), tspec(steps=2), out, resume=True)
    data = bytearray((good / "model.safetensors").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (good / "model.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        ckpt.load_model(out)
    # a truncated weights file with a self-consistent manifest: safetensors refuses it
    state = json.loads((good / "checkpoint.json").read_text())
    (good / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    state["sha256"].pop("model.safetensors")
    (good / "checkpoint.json").write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match="safetensors"):
        ckpt.load_model(out)
    (good / "checkpoint.json").write_text("{")
    with pytest.raises(CheckpointError, match="corrupted"):
        ckpt.read_state(out)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        ckpt.read_state(tmp_path / "nothing")


def test_ddp_two_processes_end_with_identical_weights(tmp_path):
    script = tmp_path / "ddp_job.py"
    script.write_text(DDP_JOB)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
           str(tmp_path), str(Path(__file__).parent)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert res.returncode == 0, res.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert w0.keys() == w1.keys()
    for k in w0:
        assert torch.equal(w0[k], w1[k]), k
    init = torch.load(tmp_path / "init.pt", weights_only=True)
    assert any(not torch.equal(init[k], w0[k]) for k in w0), "training changed the weights"
    state = ckpt.read_state(tmp_path / "run")
    assert state["world_size"] == 2 and len(state["rng"]) == 2


DDP_JOB = '''
import os, sys, torch
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from roma_core.graphs import hyperbolic_graph
from roma_core.data.windows import Windows
from roma_core.models import build
from roma_core.specs import ModelSpec, TrainSpec
from roma_core.train import train, checkpoint as ckpt
import test_train as T
out = Path(sys.argv[1])
g = hyperbolic_graph(200, mean_degree=6, seed=2)
w = Windows(g, T.kuramoto_states(g, steps=60), lookback=6, horizon=3, features="phase")
rank = int(os.environ["RANK"])
if rank == 0:
    torch.manual_seed(0)
    torch.save(build("roma", ModelSpec.from_dict({**T.spec().to_dict(), "channels": 2})).state_dict(), out / "init.pt")
res = train(w, "roma", T.spec(), T.tspec(steps=4, checkpoint_every=4), out / "run")
torch.save(res["model"].state_dict(), out / f"rank{rank}.pt")
'''


def test_block_means_are_the_whole_graphs_block_averages(windows):
    """Windows.block_means against a direct per-block mean of the features."""
    member = np.arange(windows.graph.num_nodes) % 5
    got = windows.block_means(member, 5, chunk=7)
    feats = windows.transform(windows.raw)                                       # (T, N, C)
    ref = np.stack([feats[:, member == b].mean(1) for b in range(5)], 1)
    assert got.shape == (len(windows.raw), 5, 2) and np.allclose(got, ref, atol=1e-6)


def test_one_model_trains_over_several_graphs(windows, tmp_path):
    """Each step draws one of the graphs; the checkpoint lists them, and evaluation of any of
    them scores its test span (a training graph), not all of its windows."""
    from roma_core.eval.evaluate import evaluate

    g2 = hyperbolic_graph(200, mean_degree=6, seed=5)
    other = Windows(g2, kuramoto_states(g2, seed=3), lookback=6, horizon=3, features="phase")
    res = train([windows, other], "roma", spec(), tspec(steps=6, task="forecast", sampler="full"), tmp_path / "run")
    assert {r["nodes"] for r in curve(tmp_path / "run")} == {300, 200}            # both graphs drawn
    state = ckpt.read_state(tmp_path / "run")
    assert state["train_graphs"] == [windows.graph.fingerprint(), g2.fingerprint()]
    assert evaluate(tmp_path / "run", None, windows=other, scales=False)["split"] == "test"
    assert res["steps"] == 6


@pytest.mark.parametrize("extra_spans", ["train", "all"])
def test_later_graphs_give_their_train_span_or_every_window(windows, tmp_path, monkeypatch, extra_spans):
    """The first graph always trains on its train span alone; the others on theirs, or on
    every window with ``extra_spans="all"``."""
    from roma_core.train.loop import Context

    drawn = {}
    batch = Context.batch

    def record(self, starts, *args, **kwargs):
        drawn.setdefault(self.windows.graph.num_nodes, set()).update(np.asarray(starts).tolist())
        return batch(self, starts, *args, **kwargs)

    monkeypatch.setattr(Context, "batch", record)
    g2 = hyperbolic_graph(200, mean_degree=6, seed=5)
    other = Windows(g2, kuramoto_states(g2, seed=3), lookback=6, horizon=3, features="phase")
    train([windows, other], "gnn", spec(), tspec(steps=40, task="forecast", sampler="full", extra_spans=extra_spans),
          tmp_path / "run")
    assert drawn[300] <= set(windows.starts("train").tolist())
    assert drawn[200] <= set(other.starts(extra_spans).tolist())
    assert (max(drawn[200]) > other.starts("train").max()) == (extra_spans == "all")


def test_stencil_residual_trains_roma_on_burgers(tmp_path):
    """`residual="stencil"` on long-range Burgers data: ROMA trains with the residual over
    the graph's edges and the near field, finite at every step and positive once the
    forecast moves (an untrained model forecasts persistence: u_s = 0)."""
    from roma_core.dynamics import BurgersSpec, simulate

    g = hyperbolic_graph(300, mean_degree=6, seed=2)
    ds = simulate(BurgersSpec(long_range=5.0, long_range_exponent=1.5, sources=10, noise=0.01), g,
                  t_end=3.0, dt=1e-3, save_every=25, seed=0, device="cpu")
    w = Windows(g, ds["state"].values, lookback=6, horizon=3, features="identity")
    torch.set_num_threads(1)
    train(w, "roma", spec(), tspec(residual="stencil", checkpoint_every=100), tmp_path)
    effective = [r["effective"] for r in curve(tmp_path) if r["split"] == "train"]
    assert len(effective) == 12 and all(np.isfinite(effective)) and effective[0] == 0 and min(effective[1:]) > 0


def test_training_refuses_spans_too_short_for_a_window(windows, tmp_path):
    """A validation or test span shorter than the horizon is refused before any step, with
    the length a trajectory needs; min_frames is that length."""
    from roma_core.data.windows import min_frames
    from roma_core.errors import SpecError

    need = min_frames(6, 8)                       # lookback 6, horizon 8: 15 % of time must hold 8 frames
    assert round(need * 0.15) >= 8 and round((need - 1) * 0.15) < 8
    short = Windows(windows.graph, windows.raw[:40], lookback=6, horizon=8, features="phase")
    with pytest.raises(SpecError, match=f"val span holds 6 .* at least {need} frames"):
        train(short, "gnn", ModelSpec.from_dict({**spec().to_dict(), "horizon": 8}), tspec(), tmp_path / "short")
    assert not (tmp_path / "short" / "metrics.jsonl").exists()
    long = Windows(windows.graph, windows.raw[:need], lookback=6, horizon=8, features="phase")
    assert len(long.starts("val")) and len(long.starts("test"))
