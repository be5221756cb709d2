"""The S1/H2 generator against the model's own formulas (docs/science.md §1), brute force over all
pairs at small N, and its published statistical properties at larger N."""
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from roma_core.errors import Cancelled, SpecError
from roma_core.graphs import clustering, degree_exponent, hyperbolic_graph, model_constants, poincare_layout
from roma_core.specs import GraphSpec

INF = float("inf")


def _pairs(n, block=512):
    """All pairs i < j, in blocks of rows (to keep memory small)."""
    for start in range(0, n, block):
        i = np.arange(start, min(n, start + block))[:, None]
        j = np.arange(n)[None, :]
        yield np.broadcast_to(i, (len(i), n)), np.broadcast_to(j, (len(i), n)), j > i


def _angular_distance(theta, i, j):
    d = np.abs(theta[i] - theta[j])
    return np.minimum(d, 2 * np.pi - d)


def _edge_set(graph):
    src, dst, _ = graph.edges()
    return set(zip(src.tolist(), dst.tolist()))


# ------------------------------------------------------------ exactness of the sampler
DIST_BINS = np.array([0.0, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, np.pi + 1e-9])


@pytest.mark.parametrize("gamma,mean_degree", [(2.7, 10.0), (2.2, 6.0)])
def test_finite_beta_matches_pair_probabilities(gamma, mean_degree):
    """Σ p_ij over all pairs (brute force from the stored θ, κ) against realised edge counts,
    overall and per bin of angular distance; several seeds pooled for power."""
    n, beta = 3_000, 2.0
    expected = np.zeros(len(DIST_BINS) - 1)
    variance = np.zeros_like(expected)
    observed = np.zeros_like(expected)
    for seed in range(4):
        g = hyperbolic_graph(n, mean_degree=mean_degree, gamma=gamma, beta=beta, seed=seed)
        c = model_constants(GraphSpec(nodes=n, mean_degree=mean_degree, gamma=gamma, beta=beta))
        for i, j, upper in _pairs(n):
            dtheta = _angular_distance(g.theta, i[upper], j[upper])
            p = 1.0 / (1.0 + (c["R"] * dtheta / (c["mu"] * g.kappa[i[upper]] * g.kappa[j[upper]])) ** beta)
            b = np.digitize(dtheta, DIST_BINS) - 1
            expected += np.bincount(b, p, minlength=len(expected))
            variance += np.bincount(b, p * (1 - p), minlength=len(expected))
        src, dst, _ = g.edges()
        observed += np.bincount(np.digitize(_angular_distance(g.theta, src, dst), DIST_BINS) - 1,
                                minlength=len(expected))
    z_total = (observed.sum() - expected.sum()) / math.sqrt(variance.sum())
    assert abs(z_total) < 4, (observed.sum(), expected.sum(), z_total)
    chi2 = float(np.sum((observed - expected) ** 2 / variance))
    assert stats.chi2.sf(chi2, len(expected)) > 1e-4, (observed, expected.round(1), chi2)
    # every bin holds enough expected edges for the test to mean something
    assert np.all(expected > 20), expected


@pytest.mark.parametrize("gamma,mean_degree", [(3.0, 3.0), (2.7, 10.0)])
def test_zero_temperature_equals_h2_distance_rule(gamma, mean_degree):
    """β = ∞: an edge exactly when the hyperbolic distance is below R̂ (deterministic given
    the stored coordinates), compared with brute force over every pair."""
    n = 3_000
    g = hyperbolic_graph(n, mean_degree=mean_degree, gamma=gamma, beta=INF, seed=3)
    r_hat = model_constants(GraphSpec(nodes=n, mean_degree=mean_degree, gamma=gamma, beta=INF))["R_hat"]
    expect, borderline = set(), set()
    for i, j, upper in _pairs(n):
        a, b = i[upper], j[upper]
        dtheta = _angular_distance(g.theta, a, b)
        ra, rb = g.radius[a], g.radius[b]
        cosh_x = np.cosh(ra) * np.cosh(rb) - np.sinh(ra) * np.sinh(rb) * np.cos(dtheta)
        rel = (cosh_x - math.cosh(r_hat)) / math.cosh(r_hat)
        hit = rel < 0
        expect.update(zip(a[hit].tolist(), b[hit].tolist()))
        near = np.abs(rel) < 1e-9
        borderline.update(zip(a[near].tolist(), b[near].tolist()))
    got = _edge_set(g)
    assert len(expect) > n  # a real graph, not an empty one
    assert (got ^ expect) <= borderline
    assert len(borderline) < 5


def test_radius_and_layout():
    """r_i = R̂ - 2 ln(κ_i/κ0) (clipped at 0); the Poincaré layout puts node i at radius
    tanh(r_i/2) < 1 and angle θ_i."""
    g = hyperbolic_graph(2_000, mean_degree=8, gamma=2.5, beta=3.0, seed=1)
    c = model_constants(GraphSpec(nodes=2_000, mean_degree=8, gamma=2.5, beta=3.0))
    assert g.kappa.min() >= c["kappa0"] * (1 - 1e-12)
    assert np.allclose(g.radius, np.maximum(c["R_hat"] - 2 * np.log(g.kappa / c["kappa0"]), 0))
    x, y = poincare_layout(g)
    rho = np.hypot(x, y)
    assert np.all(rho < 1)
    assert np.allclose(rho, np.tanh(g.radius / 2))
    assert np.allclose(np.mod(np.arctan2(y, x), 2 * np.pi)[rho > 0], g.theta[rho > 0])
    assert np.all(np.diff(g.theta) >= 0)  # node id = angular order
    assert np.all((g.theta >= 0) & (g.theta < 2 * np.pi))


def test_model_constants_follow_science_md():
    spec = GraphSpec(nodes=5_000, mean_degree=10, gamma=2.7, beta=2.0)
    c = model_constants(spec)
    assert c["kappa0"] == pytest.approx(10 * 0.7 / 1.7)
    assert c["mu"] == pytest.approx(2.0 * math.sin(math.pi / 2) / (2 * math.pi * 10))
    assert c["R"] == pytest.approx(5_000 / (2 * math.pi))
    assert c["R_hat"] == pytest.approx(2 * math.log(5_000 / (math.pi * c["mu"] * c["kappa0"] ** 2)))


# ------------------------------------------------------------ statistical properties
@pytest.fixture(scope="module")
def big():
    return hyperbolic_graph(100_000, mean_degree=10, gamma=2.7, beta=2.0, seed=11)


def test_mean_degree_at_100k(big):
    assert big.num_nodes == 100_000
    assert abs(big.degree.mean() / 10 - 1) < 0.10, big.degree.mean()


@pytest.mark.parametrize("gamma", [2.5, 2.7, 3.0])
def test_degree_tail_exponent(big, gamma):
    g = big if gamma == 2.7 else hyperbolic_graph(100_000, mean_degree=10, gamma=gamma, beta=2.0, seed=5)
    fitted, kmin = degree_exponent(g.degree)
    assert abs(fitted - gamma) < 0.3, (fitted, kmin)
    assert abs(g.degree.mean() / 10 - 1) < 0.10


def test_clustering_grows_with_beta():
    means = [clustering(hyperbolic_graph(20_000, mean_degree=10, gamma=2.7, beta=b, seed=2)).mean()
             for b in (1.5, 2.5, 5.0, INF)]
    assert all(a < b for a, b in zip(means, means[1:])), means
    assert means[0] > 0.1 and means[-1] > 0.6  # far above an Erdős–Rényi graph's <k>/N


def test_zero_temperature_paper_graph():
    """The paper's graphs: β = ∞, γ = 3, <k> = 3, largest component only."""
    full = hyperbolic_graph(100_000, mean_degree=3, gamma=3, beta=INF, seed=4)
    assert abs(full.degree.mean() / 3 - 1) < 0.10, full.degree.mean()
    gcc = hyperbolic_graph(100_000, mean_degree=3, gamma=3, beta=INF, seed=4, largest_component=True)
    count, labels = full.components()
    keep = labels == np.argmax(np.bincount(labels))
    assert gcc.components()[0] == 1
    assert gcc.num_nodes == keep.sum() > 1_000
    assert np.array_equal(gcc.theta, full.theta[keep])
    assert gcc.fingerprint() == full.subgraph(keep).fingerprint()
    assert gcc.meta["spec"]["largest_component"] is True


# ------------------------------------------------------------ reproducibility and edge cases
def test_same_seed_same_graph_different_seed_differs():
    a = hyperbolic_graph(5_000, seed=42)
    b = hyperbolic_graph(5_000, seed=42)
    c = hyperbolic_graph(5_000, seed=43)
    assert a == b and a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()
    assert a.meta["spec"]["seed"] == 42


def test_independent_of_thread_count():
    """Counter-based random numbers: one thread gives the same graph as many."""
    code = ("from roma_core.graphs import hyperbolic_graph;"
            "print(hyperbolic_graph(20000, beta=2.0, seed=9).fingerprint(),"
            " hyperbolic_graph(20000, beta=float('inf'), seed=9).fingerprint())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "NUMBA_NUM_THREADS": "1"}).stdout.split()
    assert out == [hyperbolic_graph(20_000, beta=2.0, seed=9).fingerprint(),
                   hyperbolic_graph(20_000, beta=INF, seed=9).fingerprint()]


def test_small_and_degenerate_sizes():
    with pytest.raises(SpecError, match="at least 2 nodes"):
        hyperbolic_graph(1)
    with pytest.raises(SpecError, match="mean_degree"):
        hyperbolic_graph(10, mean_degree=10)
    with pytest.raises(SpecError, match="mean_degree"):
        hyperbolic_graph(2, mean_degree=3)
    g = hyperbolic_graph(2, mean_degree=0.5, seed=0)
    assert g.num_nodes == 2 and g.num_edges in (0, 1)
    # N = 2 at high density connects the pair in most seeds; both outcomes are valid graphs
    edges = [hyperbolic_graph(2, mean_degree=0.9, seed=s).num_edges for s in range(20)]
    assert set(edges) <= {0, 1}
    assert hyperbolic_graph(50, mean_degree=48, seed=0).degree.mean() > 20  # dense, still fine


@pytest.mark.parametrize("kwargs,match", [
    (dict(gamma=2.0), "gamma"), (dict(beta=1.0), "beta"), (dict(beta=float("nan")), "NaN"),
    (dict(mean_degree=0), "mean_degree"), (dict(mean_degree=-1), "mean_degree"), (dict(num_nodes=0), "nodes"),
])
def test_invalid_parameters(kwargs, match):
    with pytest.raises(SpecError, match=match):
        hyperbolic_graph(**{"num_nodes": 1_000, **kwargs})


def test_progress_reaches_total_and_can_cancel():
    seen = []
    hyperbolic_graph(70_000, mean_degree=4, seed=0, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1][0] == seen[-1][1] and all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))

    def stop(done, total):
        raise Cancelled("stop")

    with pytest.raises(Cancelled):
        hyperbolic_graph(70_000, mean_degree=4, seed=0, progress=stop)
