"""Runtime adapters. Each module defines one ``Backend`` subclass; the registry finds them.

Adding a backend means adding one module here (and its tests): nothing else is edited.
Importing a module never imports its runtime, so discovery is cheap and works everywhere.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from backends.base import Backend, BackendError

_NOT_ADAPTERS = {"base"}


@cache
def registry() -> dict[str, type[Backend]]:
    """name -> adapter class, for every module in this package."""
    found: dict[str, type[Backend]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _NOT_ADAPTERS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for obj in vars(module).values():
            is_adapter = isinstance(obj, type) and issubclass(obj, Backend) and obj is not Backend
            if is_adapter and obj.name and obj.__module__ == module.__name__:
                found[obj.name] = obj
    return dict(sorted(found.items()))


def get_backend(name: str) -> type[Backend]:
    """A registered adapter by name, or an out-of-tree one given as ``package.module:ClassName``."""
    if ":" in name:
        return _load_external(name)
    backends = registry()
    if name not in backends:
        raise BackendError(
            f"unknown backend {name!r}: expected one of {', '.join(backends)}; "
            "run 'edgebench backends' to see what runs here"
        )
    return backends[name]


def names() -> list[str]:
    return list(registry())


def _load_external(spec: str) -> type[Backend]:
    module_name, _, class_name = spec.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise BackendError(f"cannot load backend {spec!r} ({exc}); expected 'package.module:ClassName'") from exc
    if not (isinstance(obj, type) and issubclass(obj, Backend)):
        raise BackendError(f"{spec!r} is not a Backend subclass (see backends/base.py)")
    return obj
