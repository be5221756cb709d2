"""Hyperbolic embedding (``roma_core.graphs.embed``) against graphs of known geometry."""
import math

import numpy as np
import pytest
from scipy.special import hyp2f1

from roma_core.cli import main
from roma_core.errors import Cancelled, GraphError, SpecError
from roma_core.graphs import (Graph, circular_correlation, clustering, clustering_spectrum, embed,
                              greedy_routing, hyperbolic_graph)


def shuffled(graph: Graph, seed: int = 0):
    """The graph with node ids in random order (so nothing can be read off the ids) and its
    true angles and κ in the new order."""
    n = graph.num_nodes
    new_id = np.random.default_rng(seed).permutation(n)
    src, dst, _ = graph.edges()
    out = Graph.from_edges(new_id[src], new_id[dst], n)
    theta, kappa = np.empty(n), np.empty(n)
    theta[new_id], kappa[new_id] = graph.theta, graph.kappa
    return out, theta, kappa


def ring(n: int, reach: int = 2) -> Graph:
    """Each node linked to its ``reach`` nearest nodes on either side of a circle."""
    src = np.repeat(np.arange(n), reach)
    dst = (src + np.tile(np.arange(1, reach + 1), n)) % n
    return Graph.from_edges(src, dst, n)


@pytest.fixture(scope="module")
def s1_beta3():
    """N = 10^4 at β = 3, ⟨k⟩ = 10, γ = 2.7: the graph with shuffled ids, its truth and the embedding."""
    truth = hyperbolic_graph(10_000, mean_degree=10, gamma=2.7, beta=3.0, seed=1)
    graph, theta, kappa = shuffled(truth)
    return truth, graph, theta, kappa, embed(graph, seed=0)


def test_recovers_angles_hidden_degrees_and_beta(s1_beta3):
    _, graph, theta, kappa, out = s1_beta3
    assert out.fingerprint() == graph.fingerprint()
    assert circular_correlation(out.theta, theta) >= 0.9
    assert np.corrcoef(out.kappa, kappa)[0, 1] >= 0.9
    assert abs(out.meta["beta"] - 3.0) <= 0.2 * 3.0
    assert out.meta["embedding"]["beta_fitted"]
    exact = clustering(graph)[graph.degree > 1].mean()  # hubs' clustering is sampled in embed
    assert out.meta["embedding"]["mean_clustering"] == pytest.approx(exact, abs=0.01)
    # the radius follows κ: hubs at the centre
    assert np.all(np.diff(out.radius[np.argsort(out.kappa)]) <= 1e-12)


def test_greedy_routing_close_to_the_true_geometry(s1_beta3):
    truth, graph, theta, _, out = s1_beta3
    true_rate = greedy_routing(truth, pairs=1000)
    assert true_rate > 0.8
    assert greedy_routing(out, pairs=1000) >= 0.9 * true_rate
    # the same network with angles shuffled routes badly: the check can fail
    scrambled = Graph(out.indptr, out.indices, theta=np.random.default_rng(0).permutation(out.theta),
                      radius=out.radius)
    assert greedy_routing(scrambled, pairs=1000) < 0.5 * true_rate


def test_likelihood_refinement_improves_routing(s1_beta3):
    _, graph, _, _, out = s1_beta3
    start = embed(graph, beta=out.meta["beta"], rounds=0)
    assert greedy_routing(out, pairs=1000) > greedy_routing(start, pairs=1000) + 0.05


def test_expected_degrees_match_degrees(s1_beta3):
    """Σ_j P̄(κ_i, κ_j) with the closed form P̄ = 2F1(1, 1/β; 1 + 1/β; −a^β), a = N/(2μκ_iκ_j)."""
    _, graph, _, _, out = s1_beta3
    n, beta, mu = graph.num_nodes, out.meta["beta"], out.meta["mu"]
    for i in np.random.default_rng(0).choice(n, 5, replace=False):
        a = n / (2 * mu * out.kappa[i] * np.delete(out.kappa, i))
        expected = hyp2f1(1.0, 1.0 / beta, 1.0 + 1.0 / beta, -a ** beta).sum()
        assert expected == pytest.approx(graph.degree[i], rel=0.02)


def test_model_clustering_spectrum_matches_a_generated_graph():
    """The model's c(k) from κ, β, μ against the clustering of a graph the generator drew."""
    g = hyperbolic_graph(5_000, mean_degree=10, gamma=2.7, beta=2.5, seed=3)
    spectrum = clustering_spectrum(g, samples=3000)
    some = spectrum["count"] >= 100
    assert some.sum() >= 8
    gap = np.abs(spectrum["model"][some] - spectrum["observed"][some])
    assert gap.max() < 0.07 and gap.mean() < 0.03
    cold = Graph(g.indptr, g.indices, kappa=g.kappa, meta={"beta": 1.5, "mu": g.meta["mu"]})
    assert np.mean(clustering_spectrum(cold)["model"][some]) < np.mean(spectrum["observed"][some]) - 0.2
    assert clustering_spectrum(Graph(g.indptr, g.indices))["model"] is None


def test_circular_correlation_matches_the_pairwise_definition():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 2 * np.pi, 300)
    b = a + rng.normal(0, 0.7, 300)
    d_a, d_b = np.sin(a[:, None] - a[None]), np.sin(b[:, None] - b[None])
    direct = (d_a * d_b).sum() / np.sqrt((d_a ** 2).sum() * (d_b ** 2).sum())
    assert circular_correlation(a, b) == pytest.approx(abs(direct), rel=1e-9)
    assert circular_correlation(a, 2.0 - a) == pytest.approx(1.0)  # rotation and reflection
    assert circular_correlation(a, rng.uniform(0, 2 * np.pi, 300)) < 0.2


def test_greedy_routing_on_a_ring():
    g = ring(200)
    n = g.num_nodes
    flat = dict(radius=np.full(n, 5.0))
    on_circle = Graph(g.indptr, g.indices, theta=2 * np.pi * np.arange(n) / n, **flat)
    assert greedy_routing(on_circle, pairs=300) == 1.0
    scrambled = Graph(g.indptr, g.indices, theta=np.random.default_rng(1).uniform(0, 2 * np.pi, n), **flat)
    assert greedy_routing(scrambled, pairs=300) < 0.3


def test_ring_comes_back_in_order():
    g = ring(500, reach=3)
    out = embed(g, seed=2)
    assert circular_correlation(out.theta, 2 * np.pi * np.arange(500) / 500) > 0.99


def test_saves_and_loads_like_a_generated_graph(tmp_path, s1_beta3):
    out = s1_beta3[-1]
    back = Graph.load(out.save(tmp_path / "e.npz"))
    assert back == out
    assert back.meta["beta"] == out.meta["beta"] and back.meta["mu"] == out.meta["mu"]
    assert back.meta["embedding"]["rounds"] == 2


def test_isolated_nodes_small_components_and_determinism():
    g = hyperbolic_graph(1_500, mean_degree=6, beta=2.5, seed=4)
    src, dst, _ = g.edges()
    extra = Graph.from_edges(np.r_[src, 1_500], np.r_[dst, 1_501], 1_503)  # an isolated pair and node
    out = embed(extra, seed=5)
    for c in (out.theta, out.kappa, out.radius):
        assert np.all(np.isfinite(c))
    assert out.kappa[1_502] == out.kappa[:1_502].min()
    assert out == embed(extra, seed=5)
    assert not np.array_equal(out.theta, embed(extra, seed=6).theta)


def test_fixed_beta_and_progress():
    g = hyperbolic_graph(2_000, mean_degree=8, beta=2.0, seed=0)
    calls = []
    out = embed(g, beta=2.2, rounds=1, progress=lambda done, total: calls.append((done, total)))
    assert out.meta["beta"] == 2.2 and not out.meta["embedding"]["beta_fitted"]
    done = [d for d, _ in calls]
    assert done == sorted(done) and calls[-1][0] == calls[-1][1]

    def stop(done, total):
        if done > 0:
            raise Cancelled("stop")

    with pytest.raises(Cancelled):
        embed(g, progress=stop)


@pytest.mark.parametrize("kwargs, error, text", [
    (dict(beta=0.8), SpecError, "beta"), (dict(beta=math.inf), SpecError, "beta"),
    (dict(rounds=-1), SpecError, "rounds"), (dict(window=0), SpecError, "window")])
def test_bad_settings(kwargs, error, text):
    with pytest.raises(error, match=text):
        embed(ring(20), **kwargs)


def test_bad_graphs():
    with pytest.raises(GraphError, match="undirected"):
        embed(Graph.from_edges([0, 1, 2], [1, 2, 0], 3, directed=True))
    with pytest.raises(GraphError, match="one edge"):
        embed(Graph.from_edges([], [], 5))
    with pytest.raises(GraphError, match="Graph"):
        embed(np.zeros((3, 3)))


def test_cli_embed(tmp_path, capsys):
    plain = tmp_path / "plain.npz"
    src, dst, _ = hyperbolic_graph(2_000, mean_degree=8, beta=2.5, seed=2).edges()
    Graph.from_edges(src, dst, 2_000).save(plain)
    out = tmp_path / "out.npz"
    assert main(["graph", "embed", str(plain), "--rounds", "1", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    g = Graph.load(out)
    assert g.has_coordinates and g.radius is not None and "beta" in said and str(out) in said
    assert g.fingerprint() == Graph.load(plain).fingerprint()
    assert main(["graph", "embed", str(plain), "--beta", "0.5", "--out", str(out)]) == 2
    assert "beta" in capsys.readouterr().err


def test_dynamics_and_grg_run_on_an_embedded_graph():
    """Burgers (angles as its 1-D coordinate), the long-range term (angular and H2
    distances) and the GRG need coordinates: a plain graph is refused, its embedding runs."""
    from roma_core.dynamics import simulate
    from roma_core.errors import HierarchyError, SimulationError
    from roma_core.renorm import geometric
    from roma_core.specs import BurgersSpec, KuramotoSpec

    plain, _, _ = shuffled(hyperbolic_graph(800, mean_degree=8, beta=2.5, seed=6, largest_component=True))
    out = embed(plain, seed=0)
    burgers = BurgersSpec(long_range=0.5)
    with pytest.raises(SimulationError, match="angles"):
        simulate(burgers, plain, t_end=0.01, dt=1e-3)
    run = simulate(burgers, out, t_end=0.01, dt=1e-3, save_every=5)
    assert np.all(np.isfinite(run.state.values))
    assert float(run.mass[-1]) == pytest.approx(float(run.mass[0]), rel=1e-3)  # no sources: mass conserved
    kuramoto = KuramotoSpec(long_range=1.0, long_range_distance="hyperbolic")
    assert np.all(np.isfinite(simulate(kuramoto, out, t_end=0.003, dt=1e-3).state.values))
    with pytest.raises(HierarchyError, match="no S1 coordinates"):
        geometric(plain)
    h = geometric(out, block=2, levels=3)
    assert h.meta["beta"] == out.meta["beta"] and h.sizes[0] == plain.num_nodes
