"""``kill -9`` of a process writing into the workspace (real processes): no store or
checkpoint is ever half-written where it would be read; the next start sweeps the
temporaries away, finished results stay listed, and a training run launched from the
Training view resumes there from its last checkpoint."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.data import ASSETS
from app.state import Session
from roma_core.data import open_trajectory
from roma_core.train import checkpoint as ckpt
from roma_core.workspace import TEMPORARY, Workspace

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(400), pytest.mark.slow]  # real processes: each imports and compiles


def start(code: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=open(log, "w"), stderr=subprocess.STDOUT)


def wait_until(predicate, proc, log, timeout=200.0):  # a fresh process imports and compiles first
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None, f"the writer ended early:\n{log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def kill9(proc) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def simulate_code(out: Path, t_end: float) -> str:
    return ("from roma_core.graphs import hyperbolic_graph; from roma_core.dynamics import Kuramoto, simulate;"
            f"simulate(Kuramoto(), hyperbolic_graph(1000, mean_degree=8, seed=1), {t_end}, 0.01, 1,"
            f" out={str(out)!r})")


def test_simulation_killed_leaves_no_store_and_the_finished_one_stays(tmp_path):
    ws = Workspace(tmp_path / "ws", readonly=[ASSETS])
    done = ws.root / "done.zarr"
    proc = start(simulate_code(done, 0.05), tmp_path / "done.log")
    assert proc.wait(200) == 0
    killed = ws.root / "killed.zarr"
    proc = start(simulate_code(killed, 500.0), tmp_path / "killed.log")  # 50,000 frames: minutes
    temporaries = lambda: [p for p in ws.root.iterdir() if TEMPORARY.match(p.name)]  # noqa: E731
    wait_until(lambda: any((p / "state").is_dir() for p in temporaries()), proc, tmp_path / "killed.log")
    time.sleep(0.5)  # frames are being written into the temporary store
    kill9(proc)
    assert not killed.exists()  # never visible under its name half-written
    assert [it.label for it in ws.items() if not it.label.startswith("assets/")] == ["done.zarr"]
    assert open_trajectory(done).sizes["time"] == 6
    # the next server start sweeps the dead writer's temporary, and only that
    removed = Workspace(ws.root).sweep()
    assert [p.name for p in removed] and all(TEMPORARY.match(p.name) for p in removed)
    assert sorted(p.name for p in ws.root.iterdir()) == ["done.zarr"]


def test_live_writers_temporaries_are_kept(tmp_path):
    ws = Workspace(tmp_path / "ws")
    mine = ws.root / f".x.zarr.tmp-{os.getpid()}-0123abcd"
    mine.mkdir()
    dead = ws.root / "runs" / ".ckpt_00000010.999999999.tmp"
    dead.mkdir(parents=True)
    assert ws.sweep() == [dead] and mine.is_dir()


def test_training_killed_resumes_from_its_last_checkpoint_in_the_view(tmp_path, small_graph):
    from roma_core.dynamics import Kuramoto, simulate
    from app.views.training import TrainingView

    ws = Workspace(tmp_path / "ws", readonly=[ASSETS])
    traj = ws.root / "data.zarr"
    simulate(Kuramoto(), small_graph, 4.0, 0.02, 2, out=traj)
    run = ws.root / "train" / "job" / "roma_001"
    code = ("from roma_core.specs import ModelSpec, TrainSpec; from app.views.training.launch import train_run;"
            f"train_run({str(traj)!r}, 'roma', ModelSpec(lookback=8, horizon=4, hidden=8, supernodes=8, levels=2),"
            " TrainSpec(steps=40, checkpoint_every=4, eval_every=0, roots=32, walk_length=4, windows=2, device='cpu'),"
            f" {str(run)!r})")
    proc = start(code, tmp_path / "train.log")
    steps = lambda: json.loads((run / "checkpoint.json").read_text())["step"] if (run / "checkpoint.json").exists() else 0  # noqa: E731
    wait_until(lambda: steps() >= 8, proc, tmp_path / "train.log")
    kill9(proc)
    killed_at = ckpt.read_state(run)["step"]  # the newest checkpoint is whole (its sha256s match)
    assert 8 <= killed_at < 40
    for d in run.glob("ckpt_*"):
        ckpt.read_state(d)
    # after a restart: the run is listed, the view follows it and resumes it
    session = Session(workspace=Workspace(ws.root, readonly=[ASSETS]))
    assert any(it.kind == "run" and it.path == run for it in session.workspace.items())
    view = TrainingView(session=session)
    view._add_run(str(run))
    view.run = str(run)
    assert view.resume(wait=True), view.status
    assert "Resuming roma_001 at step" in view.job.status or "done" in view.job.status
    assert ckpt.read_state(run)["step"] == 40
    logged = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()
              if ln.strip() and json.loads(ln).get("split") == "train"]
    assert logged == list(range(1, 41)), "the log must continue the checkpoint's steps, once each"
    assert not view.resume() and "nothing to resume" in view.status
    view.cleanup()
