"""``kill -9`` of the served dashboard (``roma serve``, a real ``panel serve``) while a
browser session simulates and another trains: nothing is left half-written where it would
be read; after a restart on the same workspace the finished store is listed, the killed
writers' temporaries are swept, and the training run resumes from its last checkpoint from
the Training view."""
from __future__ import annotations

import json
import os
import re
import signal
from pathlib import Path

import pytest
from browser_util import open_tab, set_number, wait_for
from conftest import new_page, served

from roma_core.data import open_trajectory
from roma_core.train import checkpoint as ckpt
from roma_core.workspace import TEMPORARY

STEPS, EVERY = 30, 5  # the training run: a checkpoint every 5 of 30 steps (~2-3 steps/s here)


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob(".*") if TEMPORARY.match(p.name)]


def checkpoint_step(run: Path | None) -> int:
    try:
        return json.loads((run / "checkpoint.json").read_text())["step"]
    except (OSError, ValueError, TypeError):
        return 0


def simulate(page, t_end: float, dt: float, save_every: int) -> None:
    set_number(page, "T end", t_end)
    set_number(page, "Dt", dt)
    set_number(page, "Save every", save_every)
    page.get_by_role("button", name="Run").click()


@pytest.mark.browser
@pytest.mark.slow  # two server starts and two jobs: 2-2.5 min at load average 5 on 2 cores
@pytest.mark.timeout(600)
def test_kill9_mid_jobs_then_restart_lists_results_and_resumes_training(_browser, page_text, tmp_path):
    ws = tmp_path / "workspace"
    with served(tmp_path / "first.log", "--workers", "2", workspace=ws, own_group=True) as server:
        sim = open_tab(new_page(_browser, server.url), "Simulate", ".roma-sim-plot")
        train = open_tab(new_page(_browser, server.url), "Training", ".roma-train-loss")
        # a short simulation runs to the end ...
        simulate(sim, 0.5, 0.01, 10)
        text = wait_for(lambda: (lambda t: t if "kuramoto_001.zarr" in t else None)(page_text(sim, ".roma-sim-summary")),
                        timeout=120, what="the finished simulation")
        done = Path(re.search(r"store: (\S+kuramoto_001\.zarr)", text).group(1))
        # ... then a long one, killed while it writes its frames
        simulate(sim, 500.0, 0.01, 10)
        wait_for(lambda: any((p / "state").is_dir() for p in temporaries(ws / "simulate")), timeout=120,
                 what="the long simulation writing its temporary store")
        # and in the other session a training run, small, checkpointed often, without validation
        set_number(train, "Steps", STEPS)
        set_number(train, "Eval every", 0)
        train.get_by_text("More training settings").first.click()
        set_number(train, "Checkpoint every", EVERY)
        train.get_by_role("button", name="Train", exact=True).click()
        runs = lambda: sorted((ws / "train").glob("*/roma_001"))  # noqa: E731
        wait_for(lambda: bool(runs()) and checkpoint_step(runs()[0]) >= EVERY, timeout=240, every=0.05,
                 what="the training run's first checkpoint")
        run = runs()[0]
        os.killpg(server.proc.pid, signal.SIGKILL)  # the server's whole process group
        server.proc.wait(10)
        sim.context.close()
        train.context.close()

    killed_at = ckpt.read_state(run)["step"]  # the newest checkpoint is whole (its sha256s match)
    assert EVERY <= killed_at < STEPS, killed_at
    for d in run.glob("ckpt_*"):
        ckpt.read_state(d)
    assert open_trajectory(done).sizes["time"] == 6
    stores = sorted(p.name for p in (ws / "simulate").glob("*/*.zarr"))
    assert stores == ["kuramoto_001.zarr"], stores  # the killed store never appears under its name
    assert temporaries(ws / "simulate"), "the killed simulation's temporary store should be left for the sweep"

    with served(tmp_path / "second.log", "--workers", "2", workspace=ws) as server:
        assert "removed the unfinished temporary" in server.log.read_text()
        assert not temporaries(ws)
        page = new_page(_browser, server.url)
        page.wait_for_selector(".roma-pick-path select", timeout=120_000)  # the Graph view's picker
        listed = page.locator(".roma-pick-path select option").all_inner_texts()
        assert str(done.relative_to(ws)) in listed, listed
        assert not any("kuramoto_002" in label for label in listed), listed
        open_tab(page, "Training", ".roma-train-loss")
        page.locator(".roma-pick-run_path select").first.select_option(label=str(run.relative_to(ws)))
        page.get_by_role("button", name="Open", exact=True).first.click()
        wait_for(lambda: "roma_001 · roma" in page_text(page, ".roma-train-stats"), timeout=60,
                 what="the killed run followed")
        page.get_by_role("button", name="Resume", exact=True).click()
        wait_for(lambda: f"Resuming roma_001 at step {killed_at} of {STEPS}" in page_text(page, ".roma-train-job"),
                 timeout=60, what="the resumed job")
        wait_for(lambda: "done" in page_text(page, ".roma-train-job"), timeout=240, what="the resumed run to finish")
        wait_for(lambda: f"step {STEPS} / {STEPS}" in page_text(page, ".roma-train-stats"), timeout=30,
                 what="the finished run's last step shown")
        assert ckpt.read_state(run)["step"] == STEPS
        logged = [json.loads(ln)["step"] for ln in (run / "metrics.jsonl").read_text().splitlines()
                  if ln.strip() and json.loads(ln).get("split") == "train"]
        assert logged == list(range(1, STEPS + 1)), "the log continues the checkpoint's steps, once each"
        assert page.roma_errors == [], page.roma_errors
        page.context.close()
