"""Bad inputs tried through the command line and the dashboard's views (with a workspace,
as ``roma serve`` runs them): each must be answered with a clear message (a RomaError; exit
status 2 on the command line), and nothing of the user's may change.

    .venv/bin/python -m benchmarks.bad_inputs      # prints the table for RESULTS.md

Every case returns the message the user sees; :func:`run_all` also checks that a folder of
the user's files inside the workspace is byte for byte the same afterwards.
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def run_coroutine(coro):
    """Run a view's async handler to the end on a fresh event loop in its own thread (the
    calling thread may already run a loop, as under pytest after notebook tests)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


EVIL = "<img src=x onerror=alert(1)>"


def cli(*argv) -> str:
    """``roma ARGV``: the one-line error it prints (asserting exit status 2)."""
    from roma_core.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([str(a) for a in argv])
    assert code == 2, (argv, code, err.getvalue())
    lines = [ln for ln in err.getvalue().splitlines() if "error:" in ln]
    return lines[-1].split("error: ", 1)[1]


def refused(fn, *args, **kwargs) -> str:
    """The message of the RomaError ``fn`` raises (a library call)."""
    from roma_core.errors import RomaError

    try:
        fn(*args, **kwargs)
    except RomaError as exc:
        return str(exc)
    raise AssertionError(f"{fn.__name__}{args} was accepted")


class Bench:
    """A workspace with a user's folder, a ROMA store, a graph, a run; and a session on it."""

    def __init__(self, root: Path):
        from app.data import ASSETS
        from app.state import Session
        from roma_core.dynamics import Kuramoto, simulate
        from roma_core.graphs import hyperbolic_graph
        from roma_core.workspace import Workspace

        self.tmp = root
        self.ws = Workspace(root / "ws", readonly=[ASSETS])
        self.user = self.ws.root / "mine.zarr"
        self.user.mkdir()
        (self.user / "thesis.tex").write_text("years of work")
        (self.user / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
        self.graph = hyperbolic_graph(200, mean_degree=6, seed=3)
        self.graph_file = self.graph.save(self.ws.root / "g.npz")
        self.store = self.ws.root / "run.zarr"
        simulate(Kuramoto(), self.graph, 0.02, 0.01, 1, out=self.store)
        (self.tmp / "notes.nc").write_bytes(b"CDF\x01 someone's data")
        (self.tmp / "edges.csv").write_text("source,target\n0,1\n1,x\n")
        (self.tmp / "text.npz").write_text("not an archive")
        (self.tmp / "outside").mkdir()
        (self.ws.root / "door").symlink_to(self.tmp / "outside")
        np.savez(self.ws.root / f"{EVIL}.npz", __attrs__=np.array(json.dumps({"roma_kind": "graph"})))
        self.session = Session(graph=self.graph, workspace=self.ws)

    def snapshot(self) -> dict:
        return {str(p.relative_to(self.user)): p.read_bytes() for p in sorted(self.user.rglob("*")) if p.is_file()}

    # ------------------------------------------------------------------ views
    def simulate_view(self, **fields):
        from app.views.simulate import SimulateView

        view = SimulateView(session=self.session, **fields)
        view.simulation.param.update(t_end=0.02, dt=0.01, save_every=1)
        return view

    def store_path(self, path, overwrite=False) -> str:
        view = self.simulate_view(out_path=path, overwrite=overwrite)
        assert not view.run()
        return view.status.lstrip("⚠ ")

    def sim_job(self, env: dict, **sim) -> str:
        view = self.simulate_view()
        view.simulation.param.update(**sim)
        with _env(env):
            assert not view.run()
        return view.job.status.lstrip("⚠ ")

    def open_graph(self, path) -> str:
        from app.views.graph import GraphView

        view = GraphView(graph=self.graph, session=self.session)
        view.path = path
        run_coroutine(view._on_open())
        assert view.status.startswith("⚠"), view.status
        return view.status.lstrip("⚠ ")

    def generate(self, env: dict, **spec) -> str:
        from app.views.graph import GraphView

        view = GraphView(graph=self.graph, session=self.session)
        view.spec.param.update(**spec)
        with _env(env):
            run_coroutine(view._on_generate())
        return view.status.lstrip("⚠ ")

    def forecast(self, run, trajectory) -> str:
        from app.views.forecast import ForecastView

        view = ForecastView(session=self.session, run=run, trajectory=trajectory)
        view.load()
        if view.job.running:
            view.job.wait(120)
        return (view.status or view.job.status).lstrip("⚠ ")

    def resume(self, run) -> str:
        from app.views.training import TrainingView

        view = TrainingView(session=self.session)
        view._add_run(str(run))
        view.run = str(run)
        assert not view.resume()
        view.cleanup()
        return view.status.lstrip("⚠ ")

    def second_job(self) -> str:
        import threading

        from app.jobs import Job

        gate = threading.Event()
        first, second = Job(self.session), Job(self.session)
        first.start(lambda progress=None: gate.wait(10), label="Simulating")
        assert not second.start(lambda progress=None: None)
        gate.set()
        first.wait(10)
        return second.status.lstrip("⚠ ")


@contextlib.contextmanager
def _env(values: dict):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def cases(b: Bench) -> list[tuple[str, str, callable]]:
    """(where, what was tried, how to try it -> message)."""
    from roma_core.data.trajectory import export_netcdf

    t, ws = b.tmp, b.ws.root
    sim = ["simulate", "kuramoto", "--nodes", "100", "--t-end", "0.02", "--dt", "0.01"]
    return [
        ("CLI", "`simulate --out` a folder of user files `--overwrite`", lambda: cli(*sim, "--out", b.user, "--overwrite")),
        ("CLI", "`simulate --out` an existing store, no `--overwrite`", lambda: cli(*sim, "--out", b.store)),
        ("CLI", "`simulate --out run.txt`", lambda: cli(*sim, "--out", t / "run.txt")),
        ("CLI", "`simulate --out` in a missing folder", lambda: cli(*sim, "--out", t / "no" / "r.zarr")),
        ("CLI", "`simulate --dt 0`", lambda: cli(*sim[:-2], "--dt", "0", "--out", t / "a.zarr")),
        ("CLI", "`simulate --dt -1`", lambda: cli(*sim[:-2], "--dt", "-1", "--out", t / "a.zarr")),
        ("CLI", "`simulate --t-end -1`", lambda: cli("simulate", "kuramoto", "--nodes", "100", "--t-end", "-1",
                                                     "--out", t / "a.zarr")),
        ("CLI", "`simulate --nodes 0`", lambda: cli("simulate", "kuramoto", "--nodes", "0", "--out", t / "a.zarr")),
        ("CLI", "`simulate --save-every 0`", lambda: cli(*sim, "--save-every", "0", "--out", t / "a.zarr")),
        ("CLI", "`simulate --device nope`", lambda: cli(*sim, "--device", "nope", "--out", t / "a.zarr")),
        ("CLI", "`simulate --graph` a missing file", lambda: cli("simulate", "kuramoto", "--graph", t / "none.npz",
                                                               "--out", t / "a.zarr")),
        ("CLI", "`simulate --graph` a text file named .npz", lambda: cli("simulate", "kuramoto", "--graph",
                                                                       t / "text.npz", "--out", t / "a.zarr")),
        ("CLI", "`graph load` a CSV with a non-numeric id", lambda: cli("graph", "load", t / "edges.csv",
                                                                      "--out", t / "e.npz")),
        ("CLI", "`graph hyperbolic --out g.txt`", lambda: cli("graph", "hyperbolic", "--nodes", "100", "--out",
                                                             t / "g.txt")),
        ("CLI", "`graph hyperbolic --gamma 1.5`", lambda: cli("graph", "hyperbolic", "--nodes", "100", "--gamma",
                                                             "1.5", "--out", t / "g.npz")),
        ("CLI", "`graph info` a folder that is no store", lambda: cli("graph", "info", t / "outside")),
        ("CLI", "`coarsen --graph` a missing file", lambda: cli("coarsen", "geometric", "--graph", t / "none.npz",
                                                              "--out", t / "h.npz")),
        ("CLI", "`coarsen laplacian --block 3`", lambda: cli("coarsen", "laplacian", "--graph", b.graph_file,
                                                            "--block", "3", "--out", t / "h.npz")),
        ("CLI", "`train --data` a folder of user files", lambda: cli("train", "--data", b.user, "--out", t / "r")),
        ("CLI", "`evaluate --checkpoint` a folder without one", lambda: cli("evaluate", "--checkpoint", t / "outside",
                                                                          "--data", b.store)),
        ("CLI", "`info` a missing path", lambda: cli("info", t / "nothing")),
        ("CLI", "`serve --address 0.0.0.0` without a login", lambda: cli("serve", "--address", "0.0.0.0")),
        ("CLI", "`serve --port 70000`", lambda: cli("serve", "--port", "70000")),
        ("CLI", "`serve --workers 0`", lambda: cli("serve", "--workers", "0", "--workspace", t / "w2")),
        ("CLI", "`serve --max-memory lots`", lambda: cli("serve", "--max-memory", "lots", "--workspace", t / "w2")),
        ("CLI", "`serve --basic-auth` a missing users.json", lambda: cli("serve", "--basic-auth", t / "users.json")),
        ("CLI", "`serve --workspace` under a file", lambda: cli("serve", "--workspace", t / "notes.nc" / "ws")),
        ("library", "`export_netcdf(..., overwrite=True)` onto someone's .nc",
         lambda: refused(export_netcdf, b.store, t / "notes.nc", overwrite=True)),
        ("browser", "store path `/etc/run.zarr`", lambda: b.store_path("/etc/run.zarr")),
        ("browser", "store path `../run.zarr`", lambda: b.store_path("../run.zarr")),
        ("browser", "store path `~/run.zarr`", lambda: b.store_path("~/run.zarr")),
        ("browser", "store path with a newline", lambda: b.store_path("a\nb.zarr")),
        ("browser", "store path through a symbolic link leading out", lambda: b.store_path("door/run.zarr")),
        ("browser", "store path into the shipped assets", lambda: b.store_path(str(b.ws.readonly[0] / "x.zarr"))),
        ("browser", "store path `run` (no .zarr)", lambda: b.store_path("run")),
        ("browser", "store path of an existing store, Replace not ticked", lambda: b.store_path("run.zarr")),
        ("browser", "Replace ticked on a folder of user files", lambda: b.store_path("mine.zarr", overwrite=True)),
        ("browser", f"store path `{EVIL}` (shown as text)", lambda: b.store_path(EVIL)),
        ("browser", "simulation above `--max-steps`", lambda: b.sim_job({"ROMA_APP_MAX_STEPS": "1"})),
        ("browser", "simulation above `--max-memory`", lambda: b.sim_job({"ROMA_APP_MAX_MEMORY": "1K"})),
        ("browser", "graph of 10^8 nodes (above `--max-nodes`)",
         lambda: b.generate({"ROMA_APP_MAX_NODES": "1000000"}, nodes=10**8)),
        ("browser", "graph generation with γ = 1", lambda: b.generate({}, gamma=1.0)),
        ("browser", "open graph `/etc/passwd`", lambda: b.open_graph("/etc/passwd")),
        ("browser", f"open graph `{EVIL}.npz` (ROMA attributes, no arrays)", lambda: b.open_graph(f"{EVIL}.npz")),
        ("browser", "open graph with an empty path", lambda: b.open_graph("  ")),
        ("browser", "forecast with run `/root` and trajectory `../x.zarr`", lambda: b.forecast("/root", "../x.zarr")),
        ("browser", "forecast with a store as the run", lambda: b.forecast(str(b.store), str(b.store))),
        ("browser", "resume a folder that no view launched", lambda: b.resume(ws / "run.zarr")),
        ("browser", "a second job in the same session", lambda: b.second_job()),
    ]


def _answer(try_) -> str:
    """The message, or ``UNHANDLED …`` when the input was not answered with a RomaError."""
    try:
        return try_()
    except Exception as exc:  # a traceback the user would have seen
        return f"UNHANDLED {type(exc).__name__}: {exc}"


def run_all(root: Path) -> list[tuple[str, str, str]]:
    """Try every case; returns (where, what, message) rows. Asserts the user's folder, the
    ROMA store and the outside folder are unchanged and nothing was written outside."""
    bench = Bench(root)
    before = bench.snapshot()
    outside = sorted(p.name for p in root.iterdir())
    rows = [(where, what, " ".join(_answer(try_).split())) for where, what, try_ in cases(bench)]
    assert bench.snapshot() == before, "a folder of the user's changed"
    assert sorted(p.name for p in root.iterdir()) == outside, "something was written outside the workspace"
    assert not (root / "outside").exists() or not any((root / "outside").iterdir())
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_all(Path(tmp))
    print(f"| # | where | input | answer ({len(rows)} kinds) |\n|---|---|---|---|")
    for i, (where, what, msg) in enumerate(rows, 1):
        msg = msg.replace(tmp, "…").replace("|", "\\|").replace("<", "&lt;")
        print(f"| {i} | {where} | {what.replace('<', '&lt;')} | {msg} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
