"""The package as a new user gets it: an sdist and a wheel built from the sources offline,
the wheel installed without network into a temporary target on top of the test
environment, and ``roma serve`` started from an unrelated folder opens the Forecast tab on
the shipped run, found through the installed package."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from browser_util import wait_for
from conftest import chromium, served

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "roma_core", "app"]


def run(*cmd, cwd, env=None):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel built from the sdist, installed with ``pip --target``: (target, wheel, sdist)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:  # a copy: building never writes into the checkout
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(path, src / name)
    dist = tmp / "dist"
    sdist = dist / run(sys.executable, "-c", f"import setuptools.build_meta as b; print(b.build_sdist({str(dist)!r}))",
                       cwd=src).strip().splitlines()[-1]
    with tarfile.open(sdist) as tar:
        tar.extractall(tmp / "unpacked", filter="data")
    (unpacked,) = (tmp / "unpacked").iterdir()
    run(sys.executable, "-m", "pip", "wheel", str(unpacked), "--no-deps", "--no-build-isolation", "--no-index",
        "-w", str(dist), "-q", cwd=tmp)
    (wheel,) = dist.glob("*.whl")
    target = tmp / "target"
    run(sys.executable, "-m", "pip", "install", str(wheel), "--no-deps", "--no-index", "--target", str(target),
        "-q", cwd=tmp)
    return target, wheel, sdist


def _env(target: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(target)}


def test_wheel_and_sdist_carry_the_assets(installed):
    """Every file of the manifest is in the sdist and the wheel, and the installed copies
    have the manifest's sha256; the installed package (not the checkout) is imported."""
    target, wheel, sdist = installed
    manifest = json.loads((ROOT / "assets" / "manifest.json").read_text())
    files = [rel for a in manifest["assets"] for rel in a["sha256"]]
    assert len(files) > 30
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    with tarfile.open(sdist) as tar:
        in_sdist = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for rel in files + ["assets/manifest.json"]:
        assert f"roma_core/{rel}" in in_wheel, rel
        assert f"roma_core/{rel}" in in_sdist, rel
    for asset in manifest["assets"]:
        for rel, digest in asset["sha256"].items():
            assert hashlib.sha256((target / "roma_core" / rel).read_bytes()).hexdigest() == digest, rel
    assert 2 ** 20 < wheel.stat().st_size < 30 * 2 ** 20
    elsewhere = target.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    out = run(sys.executable, "-c", "import roma_core, app.data as d; print(roma_core.__file__); "
              "print(d.DEFAULT_RUN); print(d.DEFAULT_TRAJECTORY.is_dir())", cwd=elsewhere, env=_env(target))
    module, run_dir, exists = out.split()
    assert Path(module).is_relative_to(target) and Path(run_dir).is_relative_to(target) and exists == "True"
    version = run(sys.executable, "-m", "roma_core.cli", "--version", cwd=elsewhere, env=_env(target))
    assert re.fullmatch(r"roma \d+\.\d+\.\d+\S*\n", version), version


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_installed_serve_shows_the_shipped_forecast(installed, _browser, page_text, tmp_path):
    """``roma serve`` of the installed package, started in an empty folder: the Forecast tab
    shows the shipped run's forecast on the shipped 2,000-node graph."""
    target = installed[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with served(tmp_path / "serve.log", cwd=elsewhere, env=_env(target)) as server:
        url = server.url
        ctx = chromium(_browser).new_context(viewport={"width": 1400, "height": 950})
        try:
            page = ctx.new_page()
            page.goto(url)
            page.locator(".bk-tab", has_text="Forecast").first.click(timeout=180_000)  # slow on a busy machine
            shown = []

            def forecast_shown():
                shown.append(page_text(page, ".roma-forecast-status"))
                return re.search(r"rel\. L2 at step 1|⚠|Choose a run", shown[-1])

            wait_for(forecast_shown, timeout=240, what="the shipped forecast")
            assert re.search(r"rel\. L2 at step 1", shown[-1]), shown[-1]
            assert "roma" in shown[-1] and "2,000 nodes" in shown[-1]
        finally:
            ctx.close()
