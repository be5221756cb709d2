"""``roma serve``: the ROMA Explorer dashboard, served by Panel's own ``panel serve``."""
from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from ..errors import AccessError, LimitError, RomaError

APP = Path(__file__).resolve().parents[2] / "app" / "main.py"


def register(subparsers) -> None:
    """Add the ``roma serve`` sub-command to the parser's sub-commands.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        The ``roma`` parser's sub-commands.
    """
    p = subparsers.add_parser(
        "serve", help="serve the ROMA Explorer dashboard (wraps `panel serve app/main.py`)",
        description="Serve the ROMA Explorer dashboard with Panel. Binds 127.0.0.1 by default, so only "
                    "this machine can reach it; behind a reverse proxy, give --prefix (and "
                    "--use-xheaders) and the public host with --allow-websocket-origin.")
    p.add_argument("--address", default="127.0.0.1",
                   help="interface to bind (default: 127.0.0.1; 0.0.0.0 exposes it to the network)")
    p.add_argument("--port", type=int, default=5006, help="port to listen on (default: 5006; 0 picks a free one)")
    p.add_argument("--allow-websocket-origin", action="append", metavar="HOST[:PORT]",
                   help="host allowed to open the websocket, e.g. example.org or example.org:443; "
                        "repeat for several (default: the address and port served)")
    p.add_argument("--num-procs", type=int, default=1,
                   help="worker processes (default: 1; 0 = one per CPU). Each process has its own caches")
    p.add_argument("--num-threads", type=int, default=None,
                   help="threads per process for Panel callbacks (default: none, callbacks run on the event loop)")
    p.add_argument("--basic-auth", metavar="FILE_OR_PASSWORD",
                   help="require a login: a password shared by everyone, or a JSON file mapping "
                        "user names to passwords")
    p.add_argument("--oauth-provider", default=None,
                   help="require a login through an OAuth provider (Panel's names: github, google, azure, "
                        "okta, auth0, gitlab, generic, ...); with --oauth-key, --oauth-secret, and "
                        "--oauth-redirect-uri where the provider needs it (or Panel's PANEL_OAUTH_* "
                        "environment variables)")
    p.add_argument("--oauth-key", default=None, help="the OAuth client id")
    p.add_argument("--oauth-secret", default=None, help="the OAuth client secret")
    p.add_argument("--oauth-redirect-uri", default=None, help="the OAuth redirect URI registered with the provider")
    p.add_argument("--allow-unauthenticated", action="store_true",
                   help="serve on a non-loopback --address without a login (refused otherwise: anyone who "
                        "reaches the port could run jobs and read the workspace)")
    p.add_argument("--cookie-secret", default=None,
                   help="secret signing the login cookie (default with --basic-auth: a random one per start)")
    p.add_argument("--prefix", default=None, help="URL prefix when served behind a reverse proxy, e.g. /roma")
    p.add_argument("--use-xheaders", action="store_true",
                   help="trust X-Real-Ip/X-Forwarded-For/X-Scheme headers set by a reverse proxy")
    p.add_argument("--workspace", type=Path, default=None, metavar="DIR",
                   help="the folder browser users read from and write into (created when missing; default: "
                        "the per-user data folder, ~/.local/share/roma-explorer). Nothing outside it is "
                        "reachable from the browser except the read-only shipped assets")
    p.add_argument("--workers", type=int, default=None,
                   help="jobs (simulations, training, forecasts) run at once for all sessions together; "
                        "more wait in one queue, their place shown by the progress bar (default: half the cores)")
    p.add_argument("--max-nodes", type=int, default=None,
                   help="most graph nodes one job may ask for (default: sized to the memory, ~1 KiB per node)")
    p.add_argument("--max-steps", type=int, default=None,
                   help="most integration or training steps one job may ask for (default: 1,000,000)")
    p.add_argument("--max-memory", default=None, metavar="SIZE",
                   help="most memory one job may need, e.g. 8G or 512M (default: half the memory divided "
                        "among the workers)")
    p.add_argument("--show", action="store_true", help="open the dashboard in a browser once it is up")
    p.add_argument("--no-warm", dest="warm", action="store_false",
                   help="answer at once instead of loading the default data and compiling the rendering "
                        "kernels at start (the first visitor then waits for them)")
    p.set_defaults(func=run)


def is_loopback(address: str) -> bool:
    """Whether ``address`` is reachable from this machine only.

    Parameters
    ----------
    address : str
        A host name or IP address.

    Returns
    -------
    bool
    """
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # a host name: it may resolve to a public interface
        return False


def check_exposure(args: argparse.Namespace) -> None:
    """Refuse to bind a non-loopback address without a login unless asked explicitly.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``roma serve`` command line.

    Raises
    ------
    AccessError
        If ``--address`` is not a loopback address and no login (or
        ``--allow-unauthenticated``) is given.
    """
    if is_loopback(args.address) or args.basic_auth or args.oauth_provider or args.allow_unauthenticated:
        return
    raise AccessError(f"--address {args.address} exposes the dashboard to the network without a login; give "
                      "--basic-auth PASSWORD_OR_JSON_FILE or --oauth-provider NAME, or pass "
                      "--allow-unauthenticated if this network is trusted")


def panel_argv(args: argparse.Namespace) -> list[str]:
    """The ``panel serve`` arguments equivalent to ``roma serve`` ones.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``roma serve`` command line.

    Returns
    -------
    list of str

    Raises
    ------
    RomaError
        If the address is exposed without a login, or an option is out of range.
    """
    check_exposure(args)
    if not 0 <= args.port <= 65535:
        raise RomaError(f"--port must be in 0..65535, got {args.port}")
    if args.num_procs < 0:
        raise RomaError(f"--num-procs must be >= 0, got {args.num_procs}")
    if args.num_threads is not None and args.num_threads < 1:
        raise RomaError(f"--num-threads must be >= 1, got {args.num_threads}")
    # every value as --name=value: a value starting with '-' (a password, a secret) is never
    # read by panel's parser as an option
    argv = [str(APP), f"--address={args.address}", f"--port={args.port}", f"--num-procs={args.num_procs}"]
    if args.warm:  # the default data and compiled kernels are ready before the first visitor
        argv.append("--warm")
    argv += [f"--allow-websocket-origin={origin}" for origin in args.allow_websocket_origin or []]
    if args.num_threads is not None:
        argv.append(f"--num-threads={args.num_threads}")
    if args.basic_auth:
        if args.basic_auth.endswith(".json") and not os.path.isfile(args.basic_auth):
            raise RomaError(f"--basic-auth file {args.basic_auth} does not exist; give a JSON file "
                            "of {user: password} or a password")
        argv += [f"--basic-auth={args.basic_auth}", f"--cookie-secret={args.cookie_secret or _cookie_secret()}"]
    elif args.oauth_provider:
        argv += [f"--oauth-provider={args.oauth_provider}",
                 f"--cookie-secret={args.cookie_secret or _cookie_secret()}"]
        argv += [f"--{name.replace('_', '-')}={getattr(args, name)}"
                 for name in ("oauth_key", "oauth_secret", "oauth_redirect_uri") if getattr(args, name)]
    elif args.cookie_secret:
        argv.append(f"--cookie-secret={args.cookie_secret}")
    if args.prefix:
        argv.append(f"--prefix={args.prefix}")
    if args.use_xheaders:
        argv.append("--use-xheaders")
    if args.show:
        argv.append("--show")
    return argv


def app_environment(args: argparse.Namespace) -> dict[str, str]:
    """The dashboard's settings given on the command line, as the environment it reads.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``roma serve`` command line.

    Returns
    -------
    dict
        Environment variable -> value.

    Raises
    ------
    LimitError
        If a limit is below 1.
    """
    from app.limits import parse_bytes

    env = {}
    for flag, name, value in (("--workers", "ROMA_APP_JOB_WORKERS", args.workers),
                              ("--max-nodes", "ROMA_APP_MAX_NODES", args.max_nodes),
                              ("--max-steps", "ROMA_APP_MAX_STEPS", args.max_steps)):
        if value is not None:
            if value < 1:
                raise LimitError(f"{flag} must be at least 1, got {value}")
            env[name] = str(value)
    if args.max_memory is not None:
        env["ROMA_APP_MAX_MEMORY"] = str(parse_bytes(args.max_memory))
    return env


def run(args: argparse.Namespace) -> int:
    """Run ``roma serve``: open the workspace, then serve the dashboard until stopped.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.

    Returns
    -------
    int
        The exit status (1 when Panel's server fails to start).

    Raises
    ------
    RomaError
        If the dashboard's entry is missing, the address is exposed without a login, an
        option is out of range or the workspace cannot be used.
    """
    from panel.command.serve import Serve

    from ..workspace import Workspace

    if not APP.is_file():
        raise RomaError(f"the dashboard entry {APP} is missing; reinstall the project (pip install -e .)")
    argv = panel_argv(args)
    env = app_environment(args)
    workspace = Workspace(args.workspace)  # created now: a bad folder fails before the server starts
    os.environ.update(env, ROMA_APP_WORKSPACE=str(workspace.root))
    for path in workspace.sweep():  # what writers killed mid-way (kill -9, a crash) left half-written
        print(f"roma serve: removed the unfinished temporary {path}", flush=True)
    from app.jobs import workers
    from app.limits import Limits, size

    lim = Limits.from_env()
    print(f"roma serve: workspace {workspace.root}; {workers()} job worker(s); per job at most "
          f"{lim.max_nodes:,} nodes, {lim.max_steps:,} steps, {size(lim.max_memory)}", flush=True)
    if args.num_procs != 1:
        workers_die_with_the_server()
    logging.getLogger("app").setLevel(logging.INFO)  # the dashboard's notes (slow page updates) beside Bokeh's
    parser = argparse.ArgumentParser(prog="panel serve")
    command = Serve(parser=parser)
    ns = parser.parse_args(argv)
    try:
        ret = command.invoke(ns)
    finally:  # the server has stopped: running jobs end as cancelled instead of failing mid-shutdown
        from app.jobs import cancel_all

        cancel_all()
    return 1 if ret is False else 0


def workers_die_with_the_server() -> None:
    """Make every process forked from now on (``--num-procs``' workers) get SIGTERM when the
    process that forked it ends, on Linux (``prctl(PR_SET_PDEATHSIG)``): tornado's forked
    workers otherwise outlive a server stopped by its process id and go on serving. A worker
    whose parent is already gone when it starts stops at once. Elsewhere: nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    forker = [os.getpid()]

    def in_worker():
        libc.prctl(1, signal.SIGTERM)           # 1: PR_SET_PDEATHSIG
        if os.getppid() != forker[0]:           # the process that forked it ended before the line above
            os.kill(os.getpid(), signal.SIGTERM)

    os.register_at_fork(before=lambda: forker.__setitem__(0, os.getpid()), after_in_child=in_worker)


def _cookie_secret() -> str:
    """A fresh signing secret (hex)."""
    return secrets.token_hex(32)
