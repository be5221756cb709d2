"""The ``roma`` command. Each sub-command lives in its own module of this package and
exposes ``register(subparsers)``; modules are discovered, so adding one needs no edit here."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .. import __version__
from ..errors import RomaError


def build_parser() -> argparse.ArgumentParser:
    """The ``roma`` argument parser, with every sub-command module of this package registered.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(
        prog="roma", description="ROMA Explorer: graphs, simulations, renormalization, models, dashboard.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``roma`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: the sub-command's, 2 for a :class:`~roma_core.errors.RomaError`
        (printed as one line), 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except RomaError as exc:
        print(f"roma {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
