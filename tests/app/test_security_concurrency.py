"""Five browser sessions on a server with four job workers: four simulations run side by
side, the fifth waits in the queue (its place shown by its progress bar) and then runs;
each session sees only its own result, each in its own folder of the workspace."""
from __future__ import annotations

import re

import pytest
from browser_util import open_tab, set_number, wait_for
from conftest import new_page, served


@pytest.fixture
def four_worker_server(tmp_path):
    with served(tmp_path / "serve.log", "--workers", "4", workspace=tmp_path / "workspace") as server:
        yield server.url, server.workspace


@pytest.mark.browser
@pytest.mark.slow  # five pages at once: 10 min at load average 12 on 2 cores
@pytest.mark.timeout(900)
def test_four_sessions_run_and_a_fifth_waits_in_the_queue(_browser, page_text, four_worker_server):
    url, workspace = four_worker_server
    pages = [open_tab(new_page(_browser, url), "Simulate", ".roma-sim-plot") for _ in range(5)]
    for i, page in enumerate(pages):
        set_number(page, "Coupling", i)          # five different runs
        set_number(page, "T end", 4)
        set_number(page, "Dt", 5e-4)             # 8,000 steps: seconds each, so the runs overlap
        set_number(page, "Save every", 1000)
    for page in pages[:4]:
        page.get_by_role("button", name="Run").click()
    wait_for(lambda: all("Simulating" in page_text(p, ".roma-sim-job") for p in pages[:4]), timeout=60,
             what="four running jobs")
    pages[4].get_by_role("button", name="Run").click()
    waiting = wait_for(lambda: (lambda t: t if "waiting in the queue, place 1" in t else None)(
        page_text(pages[4], ".roma-sim-job")), timeout=60, what="the fifth job's place in the queue")
    assert "4 job worker(s)" in waiting and pages[4].locator(".roma-sim-progress").first.is_visible()
    stores = []
    for page in pages:
        wait_for(lambda: "done" in page_text(page, ".roma-sim-job"), timeout=400, what="every run to finish")
        text = wait_for(lambda: (lambda t: t if "kuramoto_001.zarr" in t else None)(page_text(page, ".roma-sim-summary")),
                        timeout=60, what="the session's own result")
        stores.append(re.search(r"store: (\S+kuramoto_001\.zarr)", text).group(1))
    assert len(set(stores)) == 5 and all(s.startswith(str(workspace / "simulate")) for s in stores)
    assert len({s.rsplit("/", 2)[1] for s in stores}) == 5  # five job folders
    assert sorted(p.parent.name for p in (workspace / "simulate").glob("*/kuramoto_001.zarr")) == \
        sorted(s.rsplit("/", 2)[1] for s in stores)
    for page in pages:
        assert page.roma_errors == [], page.roma_errors
        page.context.close()
