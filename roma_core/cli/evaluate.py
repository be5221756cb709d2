"""``roma evaluate``: metrics of a checkpoint on a trajectory."""
from __future__ import annotations

import json
import os
from pathlib import Path


def register(sub) -> None:
    """Add the ``roma evaluate`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = sub.add_parser("evaluate", help="relative L2 per horizon, order-parameter error, attention summary",
                       description="Evaluate a trained checkpoint on a trajectory: its test span when it is "
                                   "the training graph, every window when it is a held-out graph.")
    p.add_argument("--checkpoint", required=True, help="run directory or ckpt_* directory")
    p.add_argument("--data", required=True, help="trajectory store (.zarr)")
    p.add_argument("--out", default=None, help="write the metrics as JSON here")
    p.add_argument("--split", default="auto", choices=["auto", "test", "val", "all"])
    p.add_argument("--windows", type=int, default=16, help="evaluate at most this many windows")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--intervals", type=float, default=None, metavar="LEVEL",
                   help="also score split-conformal intervals at this level, e.g. 0.9 (calibrated on a validation "
                        "span): coverage and width at 0.5, 0.8, 0.9, 0.95 and LEVEL, and the CRPS; for a model "
                        "trained with --predictive vbll the same scores of its own distribution too ('learned')")
    p.add_argument("--calibration", default=None,
                   help="trajectory whose validation span calibrates the intervals (default: --data itself; "
                        "needed for a held-out graph)")
    p.add_argument("--interval-groups", type=int, default=1,
                   help="calibrate the intervals per degree group of about equal size (default 1: one radius "
                        "per horizon step)")
    p.add_argument("--forecast-out", default=None, metavar="STORE",
                   help="also write the forecast and the truth of every window, node and step to this zarr store; "
                        "with --intervals their lower and upper ends too (for phases the arc's ends, in radians)")
    p.add_argument("--overwrite", action="store_true", help="replace --forecast-out if ROMA wrote it")
    p.set_defaults(func=run)


def write_json(path, obj) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (a temporary file renamed into place),
    creating its folder.

    Parameters
    ----------
    path : str or Path
        The file.
    obj : object
        Anything :func:`json.dumps` takes (numpy values included).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=1))
    os.replace(tmp, path)


def run(args) -> int:
    """Run ``roma evaluate`` with the parsed command line.

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
        For bad input (an unreadable checkpoint or trajectory, interval options without
        ``--intervals``, an existing ``--forecast-out``); :func:`roma_core.cli.main` prints it
        and exits with 2.
    """
    from ..errors import SpecError
    from ..eval.evaluate import evaluate

    if args.intervals is None and (args.calibration is not None or args.interval_groups != 1):
        raise SpecError("--calibration and --interval-groups shape the intervals; give --intervals LEVEL too "
                        "(e.g. --intervals 0.9)")
    res = evaluate(args.checkpoint, args.data, split=args.split, max_windows=args.windows, device=args.device,
                   intervals=args.intervals, calibration=args.calibration, groups=args.interval_groups,
                   forecast_out=args.forecast_out, overwrite=args.overwrite)
    if args.out:
        write_json(args.out, res)
    print(json.dumps({k: v for k, v in res.items() if k != "attention"} | {"attention": res["attention"].get("mean")}))
    return 0
