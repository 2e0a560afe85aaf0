"""Fake adapters (test doubles, not runtimes) for the pytest plugin's tests, referenced by import path as
``tests.harness.pytest_fake_backends:ClassName``: one whose runtime is "not installed", one that offers fp32
only, and one whose outputs are NaN (a broken configuration the smoke check must catch)."""

from __future__ import annotations

import numpy as np

from backends.base import Availability
from backends.null import NullBackend

FAKE_MISSING_REASON = "fake runtime 'nowhere-rt' is not installed (pip install nowhere-rt)"


class MissingRuntimeFakeBackend(NullBackend):
    name = ""  # not registered: referenced by import path

    @classmethod
    def probe(cls) -> Availability:
        return Availability(available=False, reason=FAKE_MISSING_REASON)


class Fp32OnlyFakeBackend(NullBackend):
    name = ""
    precisions = ("fp32",)


class NaNFakeBackend(NullBackend):
    name = ""

    def infer(self, feeds):
        return {name: np.full_like(value, np.nan) for name, value in self._results.items()}
