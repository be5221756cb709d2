"""Figures of a scaling ladder for the docs: every model's error against its parameter count
(points: mean over seeds, bars: their spread; the fitted law L_floor + a·P^-α with its
bootstrap band; the floor dashed), one figure per span, and the error per horizon step of
every model at the ladder's largest size. Drawn with HoloViews' matplotlib backend.

    .venv/bin/python -m benchmarks.plot_scaling /tmp/roma_bench_models/scaling_.../scaling.json docs/img findings
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import holoviews as hv
import numpy as np

from app.views.forecast import MODEL_COLOURS
from roma_core.eval.scaling import SPANS

LABELS = {"test": "test span of the training graph", "heldout": "held-out graphs"}


def law_figure(result: dict, span: str):
    """Points, laws, bands and floor of every model on one span."""
    fit = result["fits"][span]
    floor, layers = fit["floor"], []
    for m, f in fit["models"].items():
        colour = MODEL_COLOURS.get(m, "#17becf")
        p = np.array([q["params"] for q in f["points"]])
        mean = np.array([q["mean"] for q in f["points"]])
        sd = np.array([q["seed_sd"] for q in f["points"]])
        band = f["band"]
        layers.append(hv.Area((band["params"], band["low"], band["high"]), "parameters", ["lo", "hi"]).opts(
            color=colour, alpha=0.15, linewidth=0))
        if np.isfinite(f["alpha"]):
            grid = np.array(band["params"])
            layers.append(hv.Curve((grid, floor + f["prefactor"] * grid ** -f["alpha"]), "parameters", "error",
                                   label=f"{m}: α = {f['alpha']:.2f} [{f['alpha_ci'][0]:.2f}, {f['alpha_ci'][1]:.2f}]")
                          .opts(color=colour, linewidth=2))
        layers.append(hv.ErrorBars((p, mean, np.minimum(sd, 0.9 * mean), sd), "parameters",
                                   ["error", "neg", "pos"]).opts(ecolor=colour, capsize=2))
        layers.append(hv.Scatter((p, mean), "parameters", "error").opts(color=colour, s=40))
    if floor > 0:
        layers.append(hv.HLine(floor).opts(color="black", linestyle="--", linewidth=1))
    return hv.Overlay(layers).opts(logx=True, logy=True, fig_inches=(9, 5), aspect=1.5, legend_position="right",
                                   title=f"relative L2 error against parameters, {LABELS[span]}"
                                         + (f" (floor {floor:.4f}, dashed)" if floor > 0 else ""),
                                   xlabel="parameters P", ylabel="relative L2 error")


def step_figure(result: dict):
    """Test error per horizon step of every model at the largest rung all of them reached
    (mean over seeds)."""
    top = max(k for k in {r["rung"] for r in result["runs"]}
              if all(any(r["model"] == m and r["rung"] == k for r in result["runs"]) for m in result["models"]))
    layers = []
    for m in result["models"]:
        runs = [r for r in result["runs"] if r["model"] == m and r["rung"] == top and r.get("test_per_step")]
        if not runs:
            continue
        per_step = np.mean([r["test_per_step"] for r in runs], axis=0)
        steps = np.arange(1, len(per_step) + 1)
        layers.append(hv.Curve((steps, per_step), "horizon step", "relative L2 error",
                               label=f"{m} ({int(np.mean([r['params'] for r in runs])):,})").opts(
            color=MODEL_COLOURS.get(m, "#17becf"), linewidth=2))
    return hv.Overlay(layers).opts(fig_inches=(8, 4.5), aspect=1.6, legend_position="top_left",
                                   title=f"test error per horizon step at the largest size every model reached (ROMA width {top})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", help="a ladder's scaling.json")
    ap.add_argument("out", help="folder for the PNG files")
    ap.add_argument("prefix", help="file name prefix, e.g. findings")
    args = ap.parse_args(argv)
    hv.extension("matplotlib")
    result = json.loads(Path(args.result).read_text())
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for span in SPANS:
        if result["fits"].get(span, {}).get("models"):
            hv.save(law_figure(result, span), out / f"{args.prefix}_scaling_{span}.png", dpi=110)
    hv.save(step_figure(result), out / f"{args.prefix}_per_step.png", dpi=110)
    print(sorted(p.name for p in out.glob(f"{args.prefix}_*.png")))


if __name__ == "__main__":
    main()
