"""Fixtures for device tests: a FAKE board tree as the device root, with its recorded commands."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devices import fs
from tests.devices.fakes import BOARDS, FakeBoard


@pytest.fixture
def fake_board(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], FakeBoard]]:
    """``fake_board("agx-orin-jp5")`` builds that fake tree, points EDGEBENCH_FS_ROOT at it and
    installs its recorded command outputs in place of the real commands."""

    def make(name: str) -> FakeBoard:
        root = tmp_path / f"fake-{name}"
        root.mkdir()
        board = BOARDS[name](root)
        monkeypatch.setenv("EDGEBENCH_FS_ROOT", str(root))
        monkeypatch.delenv("EDGEBENCH_POWER_CSV", raising=False)
        fs.set_command_runner(board.runner)
        fs.set_stream_opener(board.opener)
        return board

    yield make
    fs.set_command_runner(None)
    fs.set_stream_opener(None)
