"""Runtime adapters. Each module defines one ``Backend`` subclass; the registry finds them.

Adding a backend means adding one module here (and its tests): nothing else is edited.
Importing a module never imports its runtime, so discovery is cheap and works everywhere.

Out-of-tree backends are plugins, never arbitrary import strings in a suite (a suite naming
``os:system`` must not import anything): a package declares them in the entry-point group
``edgebench.backends`` (``name = "package.module:ClassName"``), or the user allows one for a run
with ``edgebench run --plugin package.module:ClassName``, which lists it in ``EDGEBENCH_PLUGINS``
so the run's child process resolves the same plugins.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from functools import cache

from backends.base import Backend, BackendError

_NOT_ADAPTERS = {"base"}
PLUGIN_GROUP = "edgebench.backends"
#: comma-separated ``module:Class`` specs allowed explicitly (``--plugin``); inherited by child processes
PLUGIN_ENV = "EDGEBENCH_PLUGINS"
HOW_TO_REGISTER = (
    f"register an out-of-tree backend in the entry-point group '{PLUGIN_GROUP}' of its package "
    "([project.entry-points.\"edgebench.backends\"] name = \"package.module:ClassName\"), or allow it for "
    "one run with 'edgebench run --plugin package.module:ClassName' (under pytest: set "
    f"{PLUGIN_ENV}=package.module:ClassName)"
)


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
    for name, spec in _entry_points().items():
        if name not in found:  # a plugin cannot shadow a built-in adapter
            try:
                found[name] = _load_external(spec)
            except BackendError:
                continue  # a broken plugin is reported when it is asked for by name (get_backend)
    return dict(sorted(found.items()))


@cache
def _entry_points() -> dict[str, str]:
    from importlib import metadata

    try:
        return {ep.name: ep.value for ep in metadata.entry_points(group=PLUGIN_GROUP)}
    except Exception:  # a damaged distribution's metadata must not take the built-in backends down
        return {}


def allowed_plugins() -> list[str]:
    """The ``module:Class`` specs allowed for this process (``--plugin``, via ``EDGEBENCH_PLUGINS``)."""
    return [s.strip() for s in os.environ.get(PLUGIN_ENV, "").split(",") if s.strip()]


def allow_plugin(spec: str) -> type[Backend]:
    """Load ``spec`` now (so a typo fails before anything runs) and allow it for this run's processes."""
    cls = _load_external(spec)
    if spec not in allowed_plugins():
        os.environ[PLUGIN_ENV] = ",".join([*allowed_plugins(), spec])
    return cls


def get_backend(name: str) -> type[Backend]:
    """A registered adapter or entry-point plugin by name, or a ``--plugin`` spec allowed for this run."""
    backends = registry()
    if name in backends:
        return backends[name]
    if name in _entry_points():
        return _load_external(_entry_points()[name])  # raises with the reason it did not load
    if ":" in name:
        if name in allowed_plugins():
            return _load_external(name)
        raise BackendError(f"backend {name!r} is an import path, which a suite or option may not name: "
                           f"{HOW_TO_REGISTER}")
    raise BackendError(
        f"unknown backend {name!r}: expected one of {', '.join(backends)}; "
        "run 'edgebench backends' to see what runs here"
    )


def names() -> list[str]:
    """Backend names a suite may use: adapters, entry-point plugins and this run's ``--plugin`` specs."""
    return list(registry()) + [n for n in _entry_points() if n not in registry()] + allowed_plugins()


def _load_external(spec: str) -> type[Backend]:
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise BackendError(f"cannot load backend {spec!r}: expected 'package.module:ClassName'")
    try:
        obj = getattr(importlib.import_module(module_name), class_name)
    except Exception as exc:  # any failure of a plugin's import is the plugin's, reported in words
        raise BackendError(f"cannot load backend {spec!r} ({exc}); expected 'package.module:ClassName'") from exc
    if not (isinstance(obj, type) and issubclass(obj, Backend)):
        raise BackendError(f"{spec!r} is not a Backend subclass (see backends/base.py)")
    return obj
