"""The device-resident training pipeline (batches built from tensors on the compute device)
and bfloat16 autocast: run on the CPU here, and on CUDA where one is present."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from roma_core.data.windows import Windows
from roma_core.graphs import hyperbolic_graph
from roma_core.specs import ModelSpec
from roma_core.train import train
from roma_core.train.loop import Context, validate
from roma_core.train.sampling import Sampler

sys.path.insert(0, str(Path(__file__).parent))
from test_train import kuramoto_states, spec, tspec  # noqa: E402

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
FIELDS = ("x", "y", "edge_index", "theta", "kappa", "pe", "prior", "nodes", "field", "near")


@pytest.fixture(scope="module")
def windows():
    g = hyperbolic_graph(300, mean_degree=6, seed=2)
    return Windows(g, kuramoto_states(g), lookback=6, horizon=3, features="phase")


def curve(out):
    return [json.loads(line) for line in (Path(out) / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("device", DEVICES)
def test_device_walk_is_the_host_walk_given_the_same_numbers(device):
    g = hyperbolic_graph(2000, mean_degree=6, seed=3)
    s = Sampler(g, roots=64, walk_length=8).to(device)
    rng = np.random.default_rng(1)
    for _ in range(5):
        cur, u = rng.choice(g.num_nodes, 64, replace=False), rng.random((8, 64))
        host = s.walk_from(cur, u)
        dev = s.walk_from(torch.from_numpy(cur).to(device), torch.from_numpy(u).to(device))
        assert np.array_equal(host, dev.cpu().numpy())
        assert np.array_equal(s.induced_edges(host), s.induced_edges_tensor(dev).cpu().numpy())


def test_device_walks_follow_the_host_walks_distribution():
    """Own numbers (torch's generator), same law: mean subgraph size within 3 %, distinct roots."""
    g = hyperbolic_graph(2000, mean_degree=6, seed=3)
    s = Sampler(g, roots=64, walk_length=8).to("cpu")
    rng, gen = np.random.default_rng(0), torch.Generator().manual_seed(0)
    host = [len(s.walk(rng)) for _ in range(300)]
    dev = [len(s.walk_tensor(gen)) for _ in range(300)]
    assert abs(np.mean(dev) / np.mean(host) - 1) < 0.03, (np.mean(host), np.mean(dev))
    for roots in (64, 600, 2000):           # redrawn repeats, or a permutation when roots > N / 4
        walker = Sampler(g, roots=roots, walk_length=0).to("cpu")
        assert all(len(walker.walk_tensor(gen)) == roots for _ in range(20))       # distinct roots


@pytest.mark.parametrize("device", DEVICES)
def test_resident_batches_equal_host_batches(device):
    g = hyperbolic_graph(1500, mean_degree=6, seed=4)
    states = np.random.default_rng(0).uniform(0, 2 * np.pi, (30, g.num_nodes))
    ms = ModelSpec(lookback=6, horizon=3, hidden=16, heads=4, supernodes=8, levels=2, pos_dim=4, basis=8,
                   near_field=3)
    dev = torch.device(device)
    host = Context(Windows(g, states, lookback=6, horizon=3, features="phase"), ms, dev)
    res = Context(Windows(g, states, lookback=6, horizon=3, features="phase"), ms, dev, resident=True)
    nodes, starts = host.sampler.walk(np.random.default_rng(2)), np.array([0, 7, 3])
    for nd in (nodes, None):
        a = host.batch(starts, nd)
        b = res.batch(torch.from_numpy(starts).to(dev), None if nd is None else torch.from_numpy(nd).to(dev))
        for f in FIELDS:
            va, vb = getattr(a, f), getattr(b, f)
            assert vb.device == va.device and vb.dtype == va.dtype and vb.shape == va.shape, f
            if va.dtype.is_floating_point:      # sine and cosine may differ in the last bit on CUDA
                assert torch.allclose(va, vb, rtol=0, atol=1e-6), f
            else:
                assert torch.equal(va, vb), f


def test_identity_features_on_the_device():
    g = hyperbolic_graph(200, mean_degree=6, seed=4)
    w = Windows(g, np.random.default_rng(0).normal(2.0, 3.0, (30, 200)), lookback=5, horizon=2).to("cpu")
    x, y = w.get(np.array([1, 4]), np.array([3, 9, 50]))
    xt, yt = w.get_tensor(torch.tensor([1, 4]), torch.tensor([3, 9, 50]))
    assert torch.allclose(torch.from_numpy(x), xt, atol=1e-6) and torch.allclose(torch.from_numpy(y), yt, atol=1e-6)


def test_the_device_pipeline_trains_and_resumes_bit_for_bit(windows, tmp_path):
    """On the CPU here: the same code as on CUDA (torch generator, tensors, no numpy)."""
    ts = tspec(pipeline="device")
    full, part = tmp_path / "full", tmp_path / "part"
    train(windows, "roma", spec(), ts, full)
    train(windows, "roma", spec(), ts, part, max_steps=6)
    train(windows, "roma", spec(), ts, part, resume=True)
    a, b = curve(full), curve(part)
    assert [r["step"] for r in b] == list(range(1, 13))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert all(np.isfinite(r["loss"]) for r in a)
    train(windows, "roma", spec(), tspec(), tmp_path / "host")
    assert [r["loss"] for r in curve(tmp_path / "host")] != [r["loss"] for r in a]   # other subgraphs


def test_bf16_autocast_matches_float32_within_seed_noise(windows, tmp_path):
    """Test error of three seeds each: the bf16 mean within the float32 seeds' spread."""
    errors = {}
    for precision in ("float32", "bf16"):
        errors[precision] = []
        for seed in range(3):
            r = train(windows, "roma", spec(), tspec(steps=60, seed=seed, precision=precision, task="forecast",
                                                     checkpoint_every=1000), tmp_path / f"{precision}{seed}")
            ctx = Context(windows, r["model"].spec, torch.device("cpu"))
            errors[precision].append(validate(r["model"], ctx, "test"))
    f32, bf16 = np.array(errors["float32"]), np.array(errors["bf16"])
    assert abs(bf16.mean() - f32.mean()) < f32.std(), errors
    assert not np.array_equal(f32, bf16)                                # autocast did change the arithmetic


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_with_the_device_pipeline_and_bf16(windows, tmp_path):
    for precision in ("float32", "bf16"):
        r = train(windows, "roma", spec(), tspec(device="cuda", precision=precision), tmp_path / precision)
        assert r["steps"] == 12 and np.isfinite(r["loss"])


def test_validation_reads_a_resident_context_alike(windows):
    """Training validates on its (resident) context: the same error as from a host context."""
    from roma_core.models import build

    torch.manual_seed(0)
    ms = ModelSpec.from_dict({**spec().to_dict(), "channels": 2})
    model = build("roma", ms)
    host = validate(model, Context(windows, ms, torch.device("cpu")), "test")
    res = validate(model, Context(windows, ms, torch.device("cpu"), resident=True), "test")
    assert host == pytest.approx(res, rel=1e-6)     # with several threads the sums may round apart
