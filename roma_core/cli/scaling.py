"""``roma scaling``: a ladder of model sizes for one or several models, trained in this
process or as Dask tasks, and the fitted laws L(P) = floor + a·P^-α of their errors."""
from __future__ import annotations

import argparse

from ..errors import SpecError
from ..specs import ModelSpec, TrainSpec
from .train import MODEL_NAMES

TRAINABLE = [m for m in MODEL_NAMES if m != "persistence"]

EPILOG = """Rerunning the same command resumes: finished runs are read back, half-trained ones continue.

examples:
  roma scaling --data k.zarr --sizes 8,16,32,64 --out runs/ladder
  roma scaling --data k.zarr --extra-data k3.zarr --heldout k2.zarr --models roma,gnn --sizes 8,16,32 --out l
  roma scaling --data k.zarr --models roma,transformer,gino --sizes 8,16,32 --seeds 0,1,2 --floors test=0.008 --out l
  roma scaling --data k.zarr --sizes 8,16,32 --scheduler local --out l
  roma scaling --data k.zarr --sizes 8,16,32 --scheduler tcp://host:8786 --out /shared/l"""


def register(sub) -> None:
    """Add the ``roma scaling`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = sub.add_parser(
        "scaling", help="train a ladder of model sizes for several models; fit error = floor + a P^-alpha",
        description="Train every model of --models at every ROMA width of --sizes (the other models matched to "
                    "ROMA's parameter count there) and every seed of --seeds; write one run folder per (model, "
                    "size, seed) and scaling.json, with each model's law L(P) = floor + a P^-alpha fitted on the "
                    "test span and the held-out graphs, bootstrap intervals over seeds and windows, and ROMA's "
                    "comparison with the best other model.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="trajectory store (.zarr) of the first training graph (it also "
                                                 "gives validation, test and the feature transform)")
    p.add_argument("--extra-data", default="", help="comma-separated trajectory stores of further training graphs")
    p.add_argument("--heldout", default="", help="comma-separated trajectory stores of held-out graphs (optional)")
    p.add_argument("--models", default="roma", help=f"comma-separated models among {', '.join(TRAINABLE)} "
                                                     "(default: roma)")
    p.add_argument("--sizes", required=True, help="comma-separated ROMA hidden widths, at least 3, e.g. 8,16,24,32,48")
    p.add_argument("--seeds", default="0", help="comma-separated training seeds of every (model, size) (default: 0)")
    p.add_argument("--floors", default="", help="the error no model can go below, per span, e.g. "
                                                "test=0.0081,heldout=0.0123 (default: 0)")
    p.add_argument("--scheduler", default=None,
                   help="run the runs as Dask tasks: a scheduler address, or 'local' for a LocalCluster of "
                        "processes (default: one after the other in this process)")
    p.add_argument("--out", required=True, help="directory for the runs and scaling.json")
    ModelSpec.add_arguments(p.add_argument_group("model (every model; hidden set per size)"),
                            skip=("channels", "hidden"))
    TrainSpec.add_arguments(p.add_argument_group("training (every run; seed from --seeds)"), skip=("seed",))
    p.set_defaults(func=run)


def _list(text: str, flag: str, kind=str) -> list:
    """The items of a comma-separated flag, read as ``kind``."""
    items = [s.strip() for s in str(text).split(",") if s.strip()]
    try:
        return [kind(s) for s in items]
    except ValueError as exc:
        raise SpecError(f"{flag} must be comma-separated {kind.__name__}s, got {text!r}") from exc


def parse_request(args) -> dict:
    """Check the ladder's lists on the command line before any data is read.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    dict
        ``models``, ``widths``, ``seeds``, ``floors``, ``train_paths`` and ``heldout_paths``.

    Raises
    ------
    SpecError
        Saying which flag to fix.
    """
    from ..eval.scaling import SPANS

    models = _list(args.models, "--models")
    unknown = [m for m in models if m not in TRAINABLE]
    if not models or unknown:
        raise SpecError(f"--models: {', '.join(unknown) or 'none given'}: give models among {', '.join(TRAINABLE)}")
    if len(set(models)) < len(models):
        raise SpecError(f"--models names a model twice: {args.models!r}")
    widths = _list(args.sizes, "--sizes", int)
    if any(w < 1 for w in widths):
        raise SpecError(f"--sizes must be positive widths, got {args.sizes!r}")
    if len(set(widths)) < 3:
        raise SpecError(f"--sizes needs at least 3 distinct widths for a fit, got {args.sizes!r}")
    seeds = _list(args.seeds, "--seeds", int)
    if not seeds or len(set(seeds)) < len(seeds):
        raise SpecError(f"--seeds must be distinct integers, at least one, got {args.seeds!r}")
    floors = {}
    for item in _list(args.floors, "--floors"):
        key, sep, value = item.partition("=")
        if not sep or key.strip() not in SPANS:
            raise SpecError(f"--floors takes span=value pairs with span among {', '.join(SPANS)}, got {item!r}")
        try:
            floors[key.strip()] = float(value)
        except ValueError as exc:
            raise SpecError(f"--floors: {key.strip()} must be a number, got {value!r}") from exc
        if not 0 <= floors[key.strip()] < float("inf"):
            raise SpecError(f"--floors: {key.strip()} must be a finite number >= 0, got {value!r}")
    heldout = _list(args.heldout, "--heldout")
    if "heldout" in floors and not heldout:
        raise SpecError("--floors gives a heldout floor but no --heldout trajectory is given")
    return {"models": models, "widths": widths, "seeds": seeds, "floors": floors,
            "train_paths": [args.data] + _list(args.extra_data, "--extra-data"), "heldout_paths": heldout}


def run(args) -> int:
    """Run ``roma scaling`` with the parsed command line.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (0).

    Raises
    ------
    RomaError
        For bad input (bad lists, an unknown model, fewer than 3 sizes, an unreadable
        trajectory, bad specs) or an unreachable scheduler; :func:`roma_core.cli.main`
        prints it and exits with 2.
    """
    from ..eval.scaling import load_ladder_windows, run_ladder, run_ladder_dask
    from ..progress import tqdm_progress
    from ..train.data import load_windows

    req = parse_request(args)
    mspec = ModelSpec.from_args(args)
    tspec = TrainSpec.from_args(args)
    common = dict(floors=req["floors"])
    with tqdm_progress("scaling ladder", unit="run") as progress:
        if args.scheduler:
            first = load_windows(req["train_paths"][0], mspec, tspec)      # its channels; the workers load the rest
            mspec = ModelSpec.from_dict({**mspec.to_dict(), "channels": first.channels})
            del first
            res = run_ladder_dask(req["train_paths"], req["models"], mspec, tspec, req["widths"], req["seeds"],
                                  args.out, heldout=req["heldout_paths"], client=args.scheduler, progress=progress,
                                  **common)
        else:
            train, held = load_ladder_windows(req["train_paths"], req["heldout_paths"], mspec, tspec)
            mspec = ModelSpec.from_dict({**mspec.to_dict(), "channels": train[0].channels})
            res = run_ladder(train, req["models"], mspec, tspec, req["widths"], req["seeds"], args.out,
                             heldout=held, progress=progress, **common)
    print(report_text(res))
    return 0


def report_text(res: dict) -> str:
    """One line per run, then each span's fits and ROMA's comparison with the best peer.

    Parameters
    ----------
    res : dict
        What :func:`roma_core.eval.scaling.run_ladder` returns.

    Returns
    -------
    str
    """
    lines = []
    for r in res["runs"]:
        held = f"  heldout {r['heldout_rel_l2']:.4f}" if "heldout_rel_l2" in r else ""
        lines.append(f"{r['model']:<12} w{r['rung']:<4} seed {r['seed']:<3} hidden {r['hidden']:<5} "
                     f"params {r['params']:>9,}  test {r['test_rel_l2']:.4f}{held}  "
                     f"{r['steps']} steps, {r['train_seconds']:.0f} s")
    for span, fit in res.get("fits", {}).items():
        lines.append(f"{span} (floor {fit['floor']:g}, {fit['windows']} windows, "
                     f"{fit['ci_level']:.0%} intervals over seeds x windows):")
        for m, f in fit["models"].items():
            lo, hi = f["alpha_ci"]
            lines.append(f"  {m:<12} alpha = {f['alpha']:.4f} [{lo:.4f}, {hi:.4f}]  a = {f['prefactor']:.4g}  "
                         f"R^2 {f['r2']:.3f}  ({len(f['points'])} sizes)")
        if "best_peer" in fit:
            lo, hi = fit["alpha_diff_ci"]
            cross = fit["crossover_params"]
            ci = fit["crossover_ci"]
            where = "never" if cross is None else f"P* = {cross:,.0f}"
            where += f" [{ci[0]:,.0f}, {ci[1]:,.0f}]" if ci else ""
            lines.append(f"  best peer {fit['best_peer']}: alpha difference {fit['alpha_diff']:+.4f} [{lo:+.4f}, "
                         f"{hi:+.4f}]; roma below it from {where} (in {fit['crossover_share']:.0%} of resamples)")
    return "\n".join(lines)
