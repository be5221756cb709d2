"""``roma train``: train ROMA or a baseline on a trajectory store."""
from __future__ import annotations

import json
import os

from ..specs import ModelSpec, TrainSpec


MODEL_NAMES = ["roma", "roma_fixed", "deeponet", "gnn", "transformer", "gino", "persistence"]   # roma_core.models.MODELS


def register(sub) -> None:
    """Add the ``roma train`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = sub.add_parser("train", help="train ROMA or a baseline on a trajectory",
                       description="Train a model on windows of a trajectory store; checkpoints and "
                                   "metrics.jsonl go to --out. Works under torchrun (DDP).")
    p.add_argument("--data", required=True, nargs="+",
                   help="trajectory store(s) (.zarr) written by roma simulate; several: one model over several "
                        "graphs (each step draws one)")
    p.add_argument("--model", default="roma", choices=MODEL_NAMES)
    p.add_argument("--out", required=True, help="run directory (checkpoints, metrics.jsonl)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--match-params", type=int, default=None,
                   help="set --hidden so the model has about this many parameters")
    ModelSpec.add_arguments(p, skip=("channels",))
    TrainSpec.add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``roma train`` with the parsed command line.

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
        For bad input (an unreadable trajectory, bad specs, a run that cannot be resumed); :func:`roma_core.cli.main` prints it and exits with 2.
    """
    from ..models import match_width
    from ..train import train
    from ..train.data import load_windows

    mspec = ModelSpec.from_args(args)
    tspec = TrainSpec.from_args(args)
    windows = load_windows(args.data[0], mspec, tspec)
    more = [load_windows(d, mspec, tspec, features=windows.features, norm=windows.norm) for d in args.data[1:]]
    mspec = ModelSpec.from_dict({**mspec.to_dict(), "channels": windows.channels})
    if args.match_params:
        mspec = match_width(args.model, mspec, args.match_params)
    from tqdm.auto import tqdm
    import sys

    bar = tqdm(total=tspec.steps, desc=f"train {args.model}", unit="step", disable=not sys.stderr.isatty())

    def log(rec):
        bar.n = rec["step"]
        bar.set_postfix(loss=f"{rec['loss']:.4g}", refresh=False)
        bar.update(0)

    try:
        res = train([windows, *more], args.model, mspec, tspec, args.out, resume=args.resume, log=log)
    finally:
        bar.close()
    res.pop("model", None)
    if os.environ.get("RANK", "0") == "0":
        print(json.dumps(res))
    return 0
