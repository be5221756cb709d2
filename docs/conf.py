"""Sphinx configuration of the ROMA Explorer documentation (``make docs``).

Offline by design: no intersphinx, the theme's assets and MathJax are local, the notebooks'
views carry their JavaScript inline. Before the build this file
writes the generated sources (ignored by git): ``api/`` (one page per public module, from
its ``__all__``) and ``notebooks/`` (the tutorials; executed at build time unless
``ROMA_DOCS_NOTEBOOKS`` names a folder of copies already executed in the same test run).
"""
from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from pathlib import Path

import nbformat

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import roma_core  # noqa: E402

project = "ROMA Explorer"
author = "the ROMA Explorer developers"
copyright = "2026, " + author
release = version = roma_core.__version__

extensions = [
    "myst_nb",  # MyST Markdown pages and notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinxarg.ext",
    "sphinx-mathjax-offline",  # copies MathJax 3 into _static/mathjax (no CDN)
]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = ["_templates"]
html_theme = "pydata_sphinx_theme"
html_title = "ROMA Explorer"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_static_path: list[str] = []

mathjax_path = "mathjax/tex-chtml.js"  # under _static, from sphinx-mathjax-offline

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# notebooks: executed when they have no outputs (the committed ones), kept as given otherwise
nb_execution_mode = "auto"
nb_execution_in_temp = True  # the kernel's folder is a fresh temporary one
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
# The views embedded in the notebooks render in the static page from their HTML and the
# JavaScript of pn.extension(); executed here, Panel inlines that JavaScript (no CDN, so the
# pages work offline; tests/notebooks runs them the same way). Panel's comm payloads only mean
# something to a live kernel.
os.environ.setdefault("PANEL_INLINE", "1")
nb_mime_priority_overrides = [("html", "application/javascript", 35)]
suppress_warnings = ["mystnb.unknown_mime_type"]

autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_use_ivar = True  # dataclass fields: one description, no duplicate attribute entries

# nitpicky for roma_core: every reference to a roma_core name must resolve; names of other
# libraries (numpy, torch, xarray, ...) stay plain text, as there is no intersphinx offline
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!roma_core\.|app\.).*"), (r"py:.*", r"app\..*")]

# --------------------------------------------------------------------------- API pages
API = {  # page title -> modules whose public names it documents
    "Graphs": ["roma_core.graphs"],
    "Dynamics": ["roma_core.dynamics"],
    "Renormalization": ["roma_core.renorm"],
    "Data": ["roma_core.data", "roma_core.data.windows"],
    "Models": ["roma_core.models", "roma_core.models.base"],
    "Training": ["roma_core.train", "roma_core.train.data"],
    "Evaluation": ["roma_core.eval", "roma_core.eval.intervals", "roma_core.eval.forecasts"],
    "Specs, errors, assets and utilities": ["roma_core.specs", "roma_core.errors", "roma_core.assets",
                                            "roma_core.workspace", "roma_core.progress"],
    "Dashboard views": ["app.views"],
}


def public_names(module) -> list[str]:
    """``__all__``, or else the classes and functions the module defines itself."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    return [n for n, v in vars(module).items() if not n.startswith("_")
            and (inspect.isclass(v) or inspect.isfunction(v)) and v.__module__ == module.__name__]


def _write(path: Path, text: str) -> None:
    """Write only what changed, so that concurrent and incremental builds see stable files."""
    path.parent.mkdir(exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def write_api() -> None:
    """One page per entry of :data:`API`, an autosummary table of its modules' public names;
    pages and stubs of names gone since the last build are removed."""
    out = DOCS / "api"
    pages, stubs = ["index"], set()
    for title, modules in API.items():
        slug = modules[0].replace(".", "_")
        text = [f"# {title}\n"]
        for name in modules:
            names = public_names(importlib.import_module(name))
            stubs |= {f"{name}.{n}.rst" for n in names}
            text += [f"## `{name}`\n", "```{eval-rst}", f".. automodule:: {name}", "   :no-members:", "",
                     f".. currentmodule:: {name}", "", ".. autosummary::", "   :toctree: generated",
                     "   :nosignatures:", ""] + [f"   {n}" for n in names] + ["```", ""]
        _write(out / f"{slug}.md", "\n".join(text))
        pages.append(slug)
    _write(out / "index.md", "# API reference\n\nEvery public name of `roma_core` and `app.views`, from the "
           "docstrings.\n\n```{toctree}\n:maxdepth: 1\n\n" + "\n".join(pages[1:]) + "\n```\n")
    for stale in out.glob("*.md"):
        if stale.stem not in pages:
            stale.unlink()
    for stale in (out / "generated").glob("*.rst"):
        if stale.name not in stubs:
            stale.unlink()


# --------------------------------------------------------------------------- notebooks
def write_notebooks() -> None:
    """The tutorials from notebooks/, or their executed copies from ROMA_DOCS_NOTEBOOKS
    when those have the same cells (so the docs show what the current sources give) and
    carry their JavaScript inline (a copy run without ``PANEL_INLINE=1`` would load Bokeh
    and Panel from a CDN: it is executed again here instead)."""
    out = DOCS / "notebooks"
    executed = Path(os.environ.get("ROMA_DOCS_NOTEBOOKS", "/nonexistent"))
    for src in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(src, as_version=4)
        done = executed / src.name
        if done.is_file():
            ran = nbformat.read(done, as_version=4)
            if [c.source for c in ran.cells] == [c.source for c in nb.cells] and not loads_from_cdn(ran):
                nb = ran
        _write(out / src.name, nbformat.writes(nb))



#: hosts the notebooks' views load their JavaScript from when it is not inlined
CDN_HOSTS = ("cdn.bokeh.org", "cdn.holoviz.org")


def loads_from_cdn(nb) -> bool:
    """Whether an executed notebook's outputs load JavaScript from :data:`CDN_HOSTS`."""
    text = nbformat.writes(nb)
    return any(host in text for host in CDN_HOSTS)


# ------------------------------------------------------------- re-exported names
def resolve_public(app, env, node, contnode):
    """A reference to a roma_core object under its defining module (as type hints give it,
    e.g. ``roma_core.graphs.graph.Graph``) or under its bare name resolves to the page of
    the public name documenting the same object (``roma_core.graphs.Graph``)."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    domain = env.get_domain("py")
    leaf = target.rsplit(".", 1)[-1]
    candidates = [name for name in domain.objects if name.rsplit(".", 1)[-1] == leaf
                  and (name.startswith("roma_core.") or name.startswith("app."))]
    if "." in target:
        obj = _import(target)
        candidates = [name for name in candidates if obj is not None and _import(name) is obj]
    if len(candidates) == 0:
        return None
    return domain.resolve_xref(env, node.get("refdoc", ""), app.builder, "obj",
                               candidates[0], node, contnode)


def _import(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def param_fields(app, what, name, obj, options, lines) -> None:
    """A param-based class (the specs, the views) lists its parameters from their own
    ``doc`` strings — the same text the CLI's ``--help`` and the dashboard's widgets show."""
    import param

    if what != "class" or not (inspect.isclass(obj) and issubclass(obj, param.Parameterized)):
        return
    ours = [(n, p) for n, p in obj.param.objects("existing").items()
            if n != "name" and getattr(p.owner, "__module__", "").startswith(("roma_core", "app"))]
    if not ours:
        return
    lines += ["", ".. rubric:: Parameters", ""]
    for n, p in ours:
        doc = re.sub(r"([\\*`|_])", r"\\\1", (p.doc or "").strip().replace("\n", " "))
        lines += [f"``{n}`` : {type(p).__name__}, default ``{p.default!r}``", f"    {doc or '(no description)'}", ""]


def write_sources(app, config) -> None:
    write_api()
    write_notebooks()


def setup(app):
    # config-inited comes before Sphinx lists the source files: on a fresh clone the generated
    # pages must exist by then, or autosummary and the toctree never see them
    app.connect("config-inited", write_sources)
    app.connect("missing-reference", resolve_public)
    app.connect("autodoc-process-docstring", param_fields)
