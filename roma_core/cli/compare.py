"""``roma compare``: one table over several checkpoints (and the persistence floor)."""
from __future__ import annotations


def register(sub) -> None:
    """Add the ``roma compare`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = sub.add_parser("compare", help="table of model, parameters, train time, test and held-out error "
                                       "(and interval coverage)")
    p.add_argument("checkpoints", nargs="+", help="run directories")
    p.add_argument("--data", required=True, help="trajectory of the training graph (its test span is used)")
    p.add_argument("--heldout", default=None, help="trajectory on a held-out graph (all windows used)")
    p.add_argument("--windows", type=int, default=16)
    p.add_argument("--out", default=None, help="write the rows as JSON here")
    p.add_argument("--intervals", type=float, default=None, metavar="LEVEL",
                   help="also score every model's split-conformal intervals at this level, e.g. 0.9, calibrated on "
                        "the validation span of --data (also for --heldout): coverage and width at LEVEL in the "
                        "table, at 0.5, 0.8, 0.9, 0.95 too in --out, and the CRPS")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run ``roma compare`` with the parsed command line.

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
        For bad input (an unreadable checkpoint or trajectory); :func:`roma_core.cli.main` prints it and exits with 2.
    """
    from ..eval.compare import compare, format_table
    from .evaluate import write_json

    rows = compare(args.checkpoints, args.data, args.heldout, max_windows=args.windows, intervals=args.intervals)
    print(format_table(rows))
    if args.out:
        write_json(args.out, rows)
    return 0
