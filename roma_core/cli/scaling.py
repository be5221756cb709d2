"""``roma scaling``: a ladder of model widths and the power-law fit of test loss vs parameters."""
from __future__ import annotations

import json

from ..specs import ModelSpec, TrainSpec
from .train import MODEL_NAMES


def register(sub) -> None:
    """Add the ``roma scaling`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = sub.add_parser("scaling", help="train a ladder of widths; fit test loss ~ P^-alpha with a bootstrap CI")
    p.add_argument("--data", required=True, help="trajectory store (.zarr)")
    p.add_argument("--heldout", default=None, help="trajectory on a held-out graph (optional)")
    p.add_argument("--model", default="roma", choices=MODEL_NAMES[:-1])
    p.add_argument("--sizes", required=True, help="comma-separated hidden widths, e.g. 8,16,24,32,48")
    p.add_argument("--out", required=True, help="directory for the runs, scaling.json and scaling.nc")
    ModelSpec.add_arguments(p, skip=("channels", "hidden"))
    TrainSpec.add_arguments(p)
    p.set_defaults(func=run)


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
        For bad input (bad --sizes, an unreadable trajectory, bad specs); :func:`roma_core.cli.main` prints it and exits with 2.
    """
    from ..errors import SpecError
    from ..eval.scaling import run_ladder
    from ..progress import tqdm_progress
    from ..train.data import load_windows

    try:
        widths = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError as exc:
        raise SpecError(f"--sizes must be comma-separated integers, got {args.sizes!r}") from exc
    mspec = ModelSpec.from_args(args)
    tspec = TrainSpec.from_args(args)
    windows = load_windows(args.data, mspec, tspec)
    mspec = ModelSpec.from_dict({**mspec.to_dict(), "channels": windows.channels})
    heldout = None
    if args.heldout:
        heldout = load_windows(args.heldout, mspec, tspec, features=windows.features, norm=windows.norm)
    with tqdm_progress("scaling ladder", unit="model") as progress:
        res = run_ladder(windows, args.model, mspec, tspec, widths, args.out, heldout=heldout, progress=progress)
    for p in res["points"]:
        print(json.dumps(p))
    f = res["fit"]
    print(f"alpha = {f['alpha']:.4f}  95% CI [{f['alpha_ci'][0]:.4f}, {f['alpha_ci'][1]:.4f}]  "
          f"(s.e. {f['alpha_se']:.4f}, R^2 {f['r2']:.3f})")
    return 0
