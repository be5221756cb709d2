"""The served dashboard as a stranger would try it: paths outside the workspace are refused,
a folder of the user's survives "Replace a store", and names and messages are shown as text
(a file named like an HTML tag never becomes one)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from browser_util import open_tab, wait_for

EVIL = "<img src=x onerror=alert(1)>"
OUT_FIELD = "my_runs/run.zarr"  # the placeholder of the Simulate view's store path
INJECTED_JS = """() => { let n = 0; const walk = root => root.querySelectorAll('*').forEach(e => {
    if (e.tagName === 'IMG' && e.getAttribute('src') === 'x') n += 1;
    if (e.shadowRoot) walk(e.shadowRoot); }); walk(document); return n; }"""


def watch_dialogs(page) -> list:
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return dialogs


def run_into(page, page_text, path: str, tick_replace: bool = False) -> str:
    """Type ``path`` as the Simulate view's store (ticking "Replace a store" when asked),
    press Run, return the status shown."""
    page.get_by_placeholder(OUT_FIELD).fill(path)
    page.get_by_placeholder(OUT_FIELD).press("Enter")
    if tick_replace:
        page.locator(".roma-sim-overwrite input[type=checkbox]").first.check()
    page.get_by_role("button", name="Run").click()
    return wait_for(lambda: (lambda t: t if "⚠" in t and path in t else None)(page_text(page, ".roma-sim-status")),
                    timeout=60, what=f"the refusal of {path}")


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_replace_keeps_user_folders_and_outside_paths_are_refused(open_page, page_text, app_server):
    mine = app_server.workspace / "mine.zarr"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    (mine / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group", "attributes": {}}')
    before = {p.name: p.read_bytes() for p in mine.iterdir()}
    page = open_tab(open_page(), "Simulate", ".roma-sim-plot")
    for bad, why in (("/etc/run.zarr", "outside the workspace"), ("../run.zarr", "'..'"),
                     (str(app_server.workspace.parent / "x.zarr"), "outside the workspace")):
        assert why in run_into(page, page_text, bad)
    assert not (app_server.workspace.parent / "x.zarr").exists()
    text = run_into(page, page_text, "mine.zarr", tick_replace=True)
    assert "mine.zarr" in text and "not written by ROMA" in text
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    assert page.roma_errors == [], page.roma_errors


@pytest.mark.browser
@pytest.mark.timeout(240)
def test_names_and_messages_are_shown_as_text(open_page, page_text, app_server):
    # a file the workspace lists as a graph (its attributes say so) that fails to load
    np.savez(app_server.workspace / f"{EVIL}.npz", __attrs__=np.array(json.dumps({"roma_kind": "graph"})))
    page = open_page()
    dialogs = watch_dialogs(page)
    page.wait_for_selector(".roma-pick-path select", timeout=120_000)
    page.locator(".roma-pick-path select").first.select_option(label=f"{EVIL}.npz")
    page.get_by_role("button", name="Open", exact=True).first.click()
    text = wait_for(lambda: (lambda t: t if "⚠" in t else None)(page_text(page, ".roma-status")),
                    timeout=60, what="the error of the bad graph file")
    assert f"{EVIL}.npz" in text  # the name as text, not an image element
    open_tab(page, "Simulate", ".roma-sim-plot")
    assert f"{EVIL}.zar" in run_into(page, page_text, f"{EVIL}.zar")
    assert page.evaluate(INJECTED_JS) == 0 and dialogs == []
    assert page.roma_errors == [], page.roma_errors
