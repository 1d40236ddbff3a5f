"""Renderers registered by name, so that result objects can offer ``to_dict`` and
``_repr_html_`` without a lower stage importing ``hmdiag.render``.

Why a registry rather than wrappers in ``hmdiag.api``: a ``RunReport``, ``Comparison`` or
``DoctorResult`` reaches a notebook by many roads (the API, ``hmdiag.diagnose.report.assess``,
a Dask worker's pickle), and each must still display itself. The renderers register here when
``hmdiag.render`` is imported; a view asked for before that imports it once.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_VIEWS: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: make ``fn`` the renderer called ``name`` (e.g. ``"comparison.dict"``)."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        _VIEWS[name] = fn
        return fn

    return add


def view(name: str, *args: Any) -> Any:
    """Call the renderer registered as ``name``, loading ``hmdiag.render`` on first use."""
    if name not in _VIEWS:
        importlib.import_module("hmdiag.render")
    return _VIEWS[name](*args)
