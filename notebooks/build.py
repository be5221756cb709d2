"""Writes the tutorial notebooks from the cells below (run: python notebooks/build.py).

Keeping the source here keeps the .ipynb files free of outputs and easy to review."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).parent
md = new_markdown_cell
SETUP = """import panel as pn
pn.extension()"""

NOTEBOOKS = {
    "01_quickstart.ipynb": [
        md("# Quickstart: a hyperbolic graph, Kuramoto oscillators on it, and the dashboard's views\n\n"
        "ROMA Explorer's library (`roma_core`) and dashboard views (`app.views`) work the same in a "
        "notebook as in the browser app. Everything here runs on a laptop in seconds."),
        SETUP,
        md("## A graph from the S1/H2 model\nNodes get an angle θ and a hidden degree κ; edges follow "
        "p_ij = 1 / (1 + (R Δθ / μ κ_i κ_j)^β). Node ids follow the angle."),
        """from roma_core.graphs import hyperbolic_graph, degree_exponent, clustering

graph = hyperbolic_graph(3_000, mean_degree=8, gamma=2.7, beta=2.0, seed=1)
gamma_fit, kmin = degree_exponent(graph.degree)
print(graph)
print(f"mean degree {graph.degree.mean():.2f}, tail exponent {gamma_fit:.2f} (k >= {kmin}), "
      f"mean clustering {clustering(graph).mean():.3f}")""",
        md("## Kuramoto oscillators with the slowly modulated coupling K(t)"),
        """from roma_core.dynamics import Kuramoto, simulate

ds = simulate(Kuramoto(coupling=5.0, noise=0.0), graph, t_end=4.0, dt=0.01, save_every=10, seed=0)
print(ds)
float(ds.order_parameter[-1])""",
        md("## The same views the dashboard shows\nThe graph view draws the Poincaré disk with "
        "Datashader (it stays interactive at a million nodes); the simulate view plays the "
        "trajectory on it next to the order parameter R(t)."),
        """from app.views.graph import GraphView

GraphView(graph=graph)""",
        """import tempfile, os
from roma_core.data import save_trajectory
from app.views.simulate import SimulateView

store = os.path.join(tempfile.mkdtemp(), "quickstart.zarr")
save_trajectory(ds, store, graph=graph)
SimulateView(graph=graph, trajectory=store)""",
        md("## Your own network\nA network without coordinates (here a Barabási–Albert graph; yours "
        "would come from `read_edgelist`) gets them from `embed`: hidden degrees κ from the "
        "degrees, β from the clustering, angles by maximising the S1 likelihood. Every view and "
        "dynamics then works on it as on a generated graph."),
        """import networkx as nx
import numpy as np
from roma_core.graphs import Graph, embed, greedy_routing

edges = np.array(nx.barabasi_albert_graph(2_000, 3, seed=0).edges())
mine = embed(Graph.from_edges(edges[:, 0], edges[:, 1]))
print(mine, f"fitted beta {mine.meta['beta']:.2f}, greedy routing success {greedy_routing(mine):.2f}")
GraphView(graph=mine)""",
    ],
    "02_renormalization.ipynb": [
        md("# Renormalization: geometric and Laplacian RG, one `Hierarchy` type\n\n"
        "The geometric RG merges blocks of consecutive angles; the Laplacian RG merges neighbours "
        "whose heat profiles have become alike by a diffusion time τ*, about halving the graph per level."),
        SETUP,
        """import numpy as np
from roma_core.graphs import hyperbolic_graph
from roma_core.renorm import geometric, laplacian, diffusion_profile, peak_tau

graph = hyperbolic_graph(2_000, mean_degree=8, gamma=2.7, beta=2.0, seed=2)
grg = geometric(graph, block=2, levels=4)
print("GRG level sizes:", grg.sizes)""",
        md("Coarsening a signal and lifting it back: a signal constant on supernodes survives exactly."),
        """x = np.random.default_rng(0).normal(size=graph.num_nodes)
coarse = grg.coarsen(x, 0)          # level 0 -> level 1 (supernode means)
lifted = grg.lift(coarse, 0)          # back to level 0: constant on each supernode
np.allclose(grg.coarsen(lifted, 0), coarse)""",
        md("## The diffusion profile and the Laplacian RG\n\n"
           "Heat spreads by the random walk's Laplacian 𝓛 = I − D^−1/2 A D^−1/2. By time τ it has "
           "washed out the modes faster than 1/τ; Z(τ) = Tr e^{−τ𝓛} counts those left. A level that "
           "keeps N/r supernodes looks at the graph when N/r modes are left: τ* solves Z(τ*) = N/r, "
           "on each level's own coarse graph (about 0.7 here: one random-walk step). Neighbours whose "
           "heat profiles are most alike at τ* then merge, a pair at a time, so no supernode "
           "percolates. The specific heat C(τ) peaks later, where diffusion crosses the whole graph."),
        """from roma_core.renorm import tau_for_modes

taus = np.logspace(-2, 3, 40)
profile = diffusion_profile(graph, taus, kind="normalized")
tau_star = tau_for_modes(profile, graph.num_nodes / 2)
lrg = laplacian(graph, levels=3)          # reduction 2 per level, tau* per level as above
largest = np.bincount(lrg.membership(1)).max()
print(f"Z(tau*) = N/2 at tau* = {tau_star:.3g} (C peaks at {peak_tau(profile):.3g}); "
      f"LRG sizes {lrg.sizes}, tau* per level {np.round(lrg.meta['tau'], 3)}, largest supernode {largest} nodes")""",
        """from app.state import Session
from app.views.hierarchy import HierarchyView

HierarchyView(session=Session(graph=graph))""",
    ],
    "03_training_and_attention.ipynb": [
        md("# Training ROMA and reading its attention across scales\n\n"
        "A tiny model trained for a few seconds on the shipped 2,000-node Kuramoto trajectory, "
        "then the pretrained model from `assets/` in the forecast and attention views."),
        SETUP,
        """import tempfile
from roma_core.assets import asset_path
from roma_core.specs import ModelSpec, TrainSpec
from roma_core.train import train
from roma_core.train.data import load_windows

data = asset_path("kuramoto_2k.zarr")  # the shipped dataset, wherever the package is installed
mspec = ModelSpec(lookback=8, horizon=4, hidden=16, supernodes=16, levels=2, heads=2, basis=8)
tspec = TrainSpec(steps=20, roots=64, walk_length=8, eval_every=10, checkpoint_every=20, device="cpu")
windows = load_windows(data, mspec, tspec)
mspec = ModelSpec.from_dict({**mspec.to_dict(), "channels": windows.channels})
result = train(windows, "roma", mspec, tspec, tempfile.mkdtemp())
{k: v for k, v in result.items() if k != "model"}""",
        md("## The pretrained model: evaluation, forecasts and attention"),
        """from roma_core.eval import evaluate

run = asset_path("roma_kuramoto_2k")
metrics = evaluate(run, data, max_windows=2)
{k: metrics[k] for k in ("model", "params", "rel_l2", "attention")}""",
        """from app.state import Session
from app.views.forecast import ForecastView
from app.views.attention import AttentionView
from roma_core.graphs import Graph

session = Session(graph=Graph.load(data), trajectory=str(data), run=str(run))
ForecastView(session=session)""",
        "AttentionView(session=session)",
    ],
}


def build() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = new_notebook(cells=[c if isinstance(c, dict) else new_code_cell(c) for c in cells])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    build()
