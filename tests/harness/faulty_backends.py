"""Deliberately faulty adapters (fakes) that prove a bad backend becomes a failed record, not a crashed suite.
Loaded by the runner's child process as ``tests.harness.faulty_backends:ClassName``."""

from __future__ import annotations

import os
import time

from backends.null import NullBackend


class RaisingBackend(NullBackend):
    name = ""  # not registered; referenced by import path

    def infer(self, feeds):
        raise RuntimeError("kaboom from a faulty adapter")


class AbortingBackend(NullBackend):
    name = ""

    def infer(self, feeds):
        os.abort()


class HangingBackend(NullBackend):
    name = ""

    def load(self, artifact):
        time.sleep(3600)


class SegfaultingBackend(NullBackend):
    name = ""

    def infer(self, feeds):
        import ctypes

        ctypes.string_at(0)
