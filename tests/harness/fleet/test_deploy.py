"""`edgebench fleet deploy` into a temp "remote" home over real sshd: a wheel of this checkout in a venv
there, offline. The board's pre-installed packages (what JetPack or a vendor SDK puts on a real board)
stand in as `site_dirs`: this test process's own site-packages, so pip needs no index and nothing is
downloaded."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from harness.cli import main
from tests.harness.fleet.conftest import inventory_entry, write_inventory

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pip") is None or importlib.util.find_spec("setuptools") is None,
    reason="building a wheel needs pip and setuptools")


def test_deploy_installs_this_checkout_offline_and_is_idempotent(tmp_path, make_sshd, capsys):
    board = make_sshd()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(board.known_hosts_line)
    site = str(Path(importlib.util.find_spec("yaml").origin).parents[1])
    home = tmp_path / "remote-home"
    inv = write_inventory(tmp_path / "fleet.yaml", [
        inventory_entry(board, "fresh-board", "host", home / "edgebench", python=sys.executable,
                        extras=["onnxruntime"], site_dirs=[site])], known_hosts)

    rc = main(["fleet", "deploy", str(inv), "--offline"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "fresh-board: installed" in out.out
    edgebench = home / "edgebench" / "venv" / "bin" / "edgebench"
    assert edgebench.is_file()
    marker = json.loads((home / "edgebench" / "venv" / "edgebench-deploy.json").read_text())
    assert marker["extras"] == ["onnxruntime"] and len(marker["source_sha256"]) == 64
    # The venv runs the deployed copy, not this checkout.
    installed = list((home / "edgebench" / "venv" / "lib").glob("python*/site-packages/harness/cli/fleet.py"))
    assert len(installed) == 1

    rc = main(["fleet", "check", str(inv), "--json"])
    row = json.loads(capsys.readouterr().out)[0]
    assert rc == 0 and row["usable"], row["problems"]
    assert row["edgebench"]["path"].endswith("venv/bin/edgebench") and row["edgebench"]["version"] == "0.1.0"
    assert row["edgebench"]["deployed_at"] and row["backends"]["onnxruntime"]

    rc = main(["fleet", "deploy", str(inv), "--offline"])
    assert rc == 0 and "fresh-board: up to date" in capsys.readouterr().out
