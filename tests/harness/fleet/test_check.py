"""`edgebench fleet check` and the SSH policy against real sshd: keys only, known_hosts checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.cli import main
from tests.harness.fleet.conftest import inventory_entry, keygen, write_inventory

EDGEBENCH = str(Path(sys.executable).with_name("edgebench"))


def test_check_reports_a_usable_board(tmp_path, make_sshd, capsys):
    board = make_sshd()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(board.known_hosts_line)
    inv = write_inventory(tmp_path / "fleet.yaml", [
        inventory_entry(board, "x86-a", "host", tmp_path / "w", edgebench=EDGEBENCH, python=sys.executable),
        inventory_entry(board, "not-deployed", "host", tmp_path / "w2"),
    ], known_hosts)
    rc = main(["fleet", "check", str(inv), "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rc == 1  # one board cannot be used
    ok = rows["x86-a"]
    assert ok["usable"] and ok["reachable"] and not ok["problems"]
    assert ok["os"].startswith("Linux") and ok["python"].startswith("Python 3")
    assert ok["edgebench"]["installed"] and ok["edgebench"]["version"] == "0.1.0"
    if (Path(__file__).resolve().parents[3] / ".git").exists():
        assert ok["edgebench"]["commit"]  # this checkout's, as the board's edgebench reports it
    assert "null" in ok["backends"] and ok["backends"]["null"] is not None
    assert ok["facts"]["profile"] == "host"
    missing = rows["not-deployed"]
    assert missing["reachable"] and not missing["usable"]
    assert "edgebench is not installed" in missing["problems"][0] and "fleet deploy" in missing["problems"][0]

    rc = main(["fleet", "check", str(inv), "--devices", "x86-a"])
    line = capsys.readouterr().out.strip()
    assert rc == 0 and line.startswith("x86-a (") and ": ok;" in line


def test_unknown_host_key_is_refused_and_accept_new_accepts_it_once(tmp_path, make_sshd, capsys):
    board = make_sshd()
    known_hosts = tmp_path / "known_hosts"  # does not exist yet
    inv = write_inventory(tmp_path / "fleet.yaml", [
        inventory_entry(board, "new-board", "host", tmp_path / "w", edgebench=EDGEBENCH)], known_hosts)
    rc = main(["fleet", "check", str(inv), "--json"])
    row = json.loads(capsys.readouterr().out)[0]
    assert rc == 1 and not row["reachable"]
    assert "unknown host key" in row["problems"][0] and "--accept-new" in row["problems"][0]
    assert not known_hosts.exists()

    rc = main(["fleet", "check", str(inv), "--accept-new", "--json"])
    row = json.loads(capsys.readouterr().out)[0]
    assert rc == 0 and row["usable"], row["problems"]
    assert known_hosts.read_text() == board.known_hosts_line  # written in OpenSSH's format

    rc = main(["fleet", "check", str(inv), "--json"])  # now known: no flag needed
    assert rc == 0 and json.loads(capsys.readouterr().out)[0]["usable"]


def test_changed_host_key_is_refused_even_with_accept_new(tmp_path, make_sshd, capsys):
    board = make_sshd()
    impostor = keygen(tmp_path / "other_host_key")
    kind, blob = impostor.with_suffix(".pub").read_text().split()[:2]
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{board.port} {kind} {blob}\n")
    inv = write_inventory(tmp_path / "fleet.yaml", [
        inventory_entry(board, "reinstalled", "host", tmp_path / "w", edgebench=EDGEBENCH)], known_hosts)
    rc = main(["fleet", "check", str(inv), "--accept-new", "--json"])
    row = json.loads(capsys.readouterr().out)[0]
    assert rc == 1 and not row["reachable"]
    assert "does NOT match" in row["problems"][0] and "ssh-keygen -R" in row["problems"][0]
    assert known_hosts.read_text().count("\n") == 1  # nothing added


def test_wrong_key_is_refused_with_a_clear_message(tmp_path, make_sshd, capsys):
    board = make_sshd()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(board.known_hosts_line)
    stranger = keygen(tmp_path / "not_authorized")
    inv = write_inventory(tmp_path / "fleet.yaml", [
        {**inventory_entry(board, "locked", "host", tmp_path / "w", edgebench=EDGEBENCH), "key": str(stranger)},
        {**inventory_entry(board, "no-key-file", "host", tmp_path / "w", edgebench=EDGEBENCH),
         "key": str(tmp_path / "missing_key")},
    ], known_hosts)
    rc = main(["fleet", "check", str(inv), "--json"])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rc == 1
    refused = rows["locked"]["problems"][0]
    assert "refused the key" in refused and str(stranger) in refused and "authorized_keys" in refused
    assert "does not exist" in rows["no-key-file"]["problems"][0]

    # fleet run: the same message on the job, exit 1, no traceback
    suite = tmp_path / "suite.yaml"
    suite.write_text("models: [talking-head]\nbackends: [null]\n")
    rc = main(["fleet", "run", str(suite), "--inventory", str(inv), "--devices", "locked", "--out",
               str(tmp_path / "out"), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert rc == 1 and result["counts"]["failed"] == 1
    assert "refused the key" in result["jobs"][0]["last_error"]
