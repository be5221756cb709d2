"""Every public function, class and method of ``roma_core`` and ``app.views`` documents its
parameters and what it returns (numpy style), so the API reference is complete: every
module whose name has no part starting with ``_``, re-exported or internal, is checked;
names starting with ``_`` are exempt."""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil

import param
import pytest

PACKAGES = ("roma_core", "app.views")


def modules() -> list[str]:
    """The packages and every module below them with no name part starting with ``_``."""
    found = list(PACKAGES)
    for pkg in PACKAGES:
        for info in pkgutil.walk_packages(importlib.import_module(pkg).__path__, pkg + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                found.append(info.name)
    return sorted(set(found))


ALL = modules()


def public(module) -> list:
    names = getattr(module, "__all__", None) or [
        n for n, v in vars(module).items() if not n.startswith("_") and (inspect.isclass(v) or inspect.isfunction(v))
        and v.__module__ == module.__name__]
    return [getattr(module, n) for n in names if inspect.isclass(getattr(module, n)) or inspect.isfunction(getattr(module, n))]


def callables(obj):
    """The object, and for a class its own public methods (not inherited ones)."""
    yield obj
    if inspect.isclass(obj):
        for name, member in vars(obj).items():
            if name.startswith("_"):
                continue
            if isinstance(member, (classmethod, staticmethod)):
                member = member.__func__
            if inspect.isfunction(member):
                yield member


def problems(obj) -> list[str]:
    doc = inspect.getdoc(obj) or ""
    name = getattr(obj, "__qualname__", repr(obj))
    if not doc:
        return [f"{name}: no docstring"]
    if inspect.isclass(obj) and issubclass(obj, param.Parameterized):
        return []  # the docs list a spec's parameters from their own doc strings
    own_init = not inspect.isclass(obj) or "__init__" in vars(obj) or dataclasses.is_dataclass(obj)
    try:  # a class that inherits its constructor is documented by its base
        params = [p for p in inspect.signature(obj).parameters if p not in ("self", "cls")] if own_init else []
    except (TypeError, ValueError):
        params = []
    out = []
    sections = ("Parameters\n---", "Attributes\n---") if dataclasses.is_dataclass(obj) else ("Parameters\n---",)
    if params and not any(s in doc for s in sections) and "See :meth:" not in doc:
        out.append(f"{name}: parameters {params} not documented")
    returns = inspect.signature(obj).return_annotation if inspect.isfunction(obj) else inspect.Signature.empty
    if inspect.isfunction(obj) and returns not in (None, "None", inspect.Signature.empty) \
            and not any(s in doc for s in ("Returns\n---", "Yields\n---", "See :meth:")):
        out.append(f"{name}: return value not documented")
    return out


def module_problems(module: str) -> list[str]:
    return [p for obj in public(importlib.import_module(module)) for c in callables(obj) for p in problems(c)]


@pytest.mark.parametrize("module", ALL)
def test_public_api_is_documented(module):
    assert module_problems(module) == []


def test_the_check_sees_every_module():
    """Internal modules and subpackages are found, private ones are not."""
    assert {"roma_core.data.windows", "roma_core.train.sampling", "roma_core.cli.serve", "app.views.hierarchy",
            "app.views.training.scaling", "roma_core.dynamics.triton_kernels"} <= set(ALL)
    assert not any(part.startswith("_") for m in ALL for part in m.split("."))


def test_the_check_sees_a_missing_section():
    def documented(a: int) -> int:
        """Twice a.

        Parameters
        ----------
        a : int

        Returns
        -------
        int
        """
        return 2 * a

    def bare(a: int) -> int:
        """Twice a."""
        return 2 * a

    assert problems(documented) == []
    assert problems(bare) == ["test_the_check_sees_a_missing_section.<locals>.bare: parameters ['a'] not documented",
                              "test_the_check_sees_a_missing_section.<locals>.bare: return value not documented"]
