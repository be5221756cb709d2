"""The documentation builds offline with warnings as errors (nitpicky for roma_core), and
documents what the package has: every public name, every ``roma`` sub-command, the
executed notebooks and the views' screenshots."""
from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _executed_notebooks(tmp_path_factory, out: Path) -> Path:
    """The notebooks tests/notebooks executed earlier in this pytest session (their copies
    lie in this session's temporary folders), so the build need not run them again;
    conf.py uses a copy only when its cells equal the committed notebook's."""
    out.mkdir()
    for done in tmp_path_factory.getbasetemp().glob("test_notebook_runs*/*.ipynb"):
        shutil.copy(done, out / done.name)
    return out


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("docs")
    ran = _executed_notebooks(tmp_path_factory, tmp / "executed")
    env = {**os.environ, "ROMA_DOCS_NOTEBOOKS": str(ran)}
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
                           "-d", str(tmp / "doctrees"), str(ROOT / "docs"), str(tmp / "html")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stderr[-6000:]}"
    return tmp / "html"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_docs_build_documents_every_public_name(html):

    spec = importlib.util.spec_from_file_location("docs_conf", ROOT / "docs" / "conf.py")
    conf = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(conf)  # the same lists the API pages are written from
    API, public_names = conf.API, conf.public_names

    pages = {p.name for p in (html / "api" / "generated").glob("*.html")}
    missing = [f"{m}.{n}" for ms in API.values() for m in ms
               for n in public_names(importlib.import_module(m)) if f"{m}.{n}.html" not in pages]
    assert not missing, f"public names without an API page: {missing}"
    assert {"roma_core.graphs.Graph.html", "roma_core.renorm.Hierarchy.html",
            "app.views.ForecastView.html"} <= pages
    graph = (html / "api" / "generated" / "roma_core.graphs.Graph.html").read_text()
    assert "to_pyg" in graph and "Parameters" in (html / "api" / "generated"
                                                    / "roma_core.assets.asset_path.html").read_text()


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_docs_cli_page_lists_every_subcommand(html):
    """Every sub-command (nested ones included) has its section and every option its entry."""
    import argparse

    from roma_core.cli import build_parser

    def walk(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{path}-{name}")

    page = (html / "cli.html").read_text()
    entries = {opt for kbd in re.findall(r"<kbd>([^<]+)</kbd>", page) for opt in kbd.split(", ")}
    commands = list(walk(build_parser(), "roma"))
    assert len(commands) > 15
    for path, parser in commands:
        assert f'id="{path}"' in page, path
        for action in parser._actions:
            for opt in action.option_strings:
                if opt.startswith("--") and opt != "--help":
                    assert opt in entries, f"{path} {opt}"


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_docs_pages_notebooks_and_screenshots(html):
    for page in ["index", "getting-started", "science", "benchmarks", "lab-notebook", "findings", "changelog",
                 "guide/graphs",
                 "guide/simulation", "guide/renormalization", "guide/models", "guide/evaluation",
                 "guide/dashboard", "guide/notebooks", "guide/deployment"]:
        assert (html / f"{page}.html").is_file(), page
    science = (html / "science.html").read_text()
    assert "arXiv:2502.15913" in science and "Laplacian renormalization group" in science
    # the dated lab notebook is its own page, linked from the Benchmarks page of current figures
    notebook, current = (html / "lab-notebook.html").read_text(), (html / "benchmarks.html").read_text()
    for line in (ROOT / "benchmarks" / "RESULTS.md").read_text().splitlines():
        if line.startswith("## "):
            assert line[3:].strip() in notebook
    assert 'href="lab-notebook.html' in current and len(current) < len(notebook) / 3
    # every notebook is rendered with the outputs of its run
    for src in sorted((ROOT / "notebooks").glob("*.ipynb")):
        out = (html / "notebooks" / f"{src.stem}.html").read_text()
        code_cells = sum(c.cell_type == "code" for c in nbformat.read(src, as_version=4).cells)
        assert out.count("cell_output") >= code_cells - 1, src.name
        error = re.search(r'class="[^"]*output traceback', out)  # an error output (not the CSS's word)
        assert error is None, f"{src.name} shows an error: {re.sub(r'<[^>]+>', '', out[error.start():][:1500])}"
    # the guide's screenshots are the browser tests' artefacts (docs/img), copied as they are
    dashboard = (html / "guide" / "dashboard.html").read_text()
    shown = re.findall(r'src="\.\./_images/([^"]+\.png)"', dashboard)
    assert {"graph_view.png", "simulate_view.png", "hierarchy_view.png", "forecast_view.png",
            "attention_view.png", "training_view.png"} <= set(shown)
    for name in shown:
        assert (html / "_images" / name).read_bytes() == (ROOT / "docs" / "img" / name).read_bytes()


@pytest.mark.slow
@pytest.mark.timeout(1500)
def test_docs_work_offline(html):
    """No page loads a script or stylesheet from the network: the notebooks' views carry
    Bokeh's and Panel's JavaScript inline, MathJax is served from ``_static``."""
    url = r"""\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    script = re.compile(r"<script\b[^>]*\bsrc" + url, re.I)
    link = re.compile(r"<link\b[^>]*\bhref" + url + r"[^>]*>", re.I)
    found = {}
    for page in html.rglob("*.html"):
        text = page.read_text(errors="replace")
        hits = script.findall(text) + [m.group(1) for m in link.finditer(text) if "stylesheet" in m.group(0)]
        hits += [host for host in ("cdn.bokeh.org", "cdn.holoviz.org") if host in text]
        if hits:
            found[str(page.relative_to(html))] = hits[:3]
    assert not found, f"pages that load from the network: {found}"
    science = (html / "science.html").read_text()
    assert 'src="_static/mathjax/tex-chtml.js' in science
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
