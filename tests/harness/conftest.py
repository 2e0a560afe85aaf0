"""Shared set-up for the harness tests."""

from __future__ import annotations

import inspect

import pytest

from backends import PLUGIN_ENV
from tests.harness import faulty_backends


@pytest.fixture(autouse=True)
def _allow_faulty_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    """The faulty fakes are named by import path, which only an explicit allowance permits (what
    `edgebench run --plugin` sets); run children inherit it. Other import paths stay refused."""
    specs = [f"{faulty_backends.__name__}:{name}" for name, obj in vars(faulty_backends).items()
             if inspect.isclass(obj) and obj.__module__ == faulty_backends.__name__]
    monkeypatch.setenv(PLUGIN_ENV, ",".join(specs))
