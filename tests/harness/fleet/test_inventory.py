"""fleet.yaml validation: key-path errors like suites, no passwords, selection by name and tag."""

from __future__ import annotations

import pytest
import yaml

from harness.cli import main
from harness.errors import UsageError
from harness.fleet.inventory import load_inventory, parse_inventory

BOARD = {"name": "pi5-a", "host": "192.0.2.7", "user": "bench", "profile": "rpi"}


def test_defaults_and_profile_extras():
    inv = parse_inventory({"devices": [BOARD, {**BOARD, "name": "orin", "profile": "jetson", "workdir": "~/eb",
                                               "tags": ["lab"]}]})
    pi, orin = inv.devices
    assert pi.port == 22 and pi.python == "python3" and pi.workdir == "edgebench" and pi.key is None
    assert pi.extras == ("onnxruntime", "litert") and not pi.system_site_packages
    assert pi.remote_edgebench == "edgebench/venv/bin/edgebench"
    assert orin.workdir == "eb" and orin.system_site_packages and orin.extras == ()
    assert [d.name for d in inv.select(tags=["lab"])] == ["orin"]
    assert [d.name for d in inv.select(names=["orin", "pi5-a"])] == ["orin", "pi5-a"]


@pytest.mark.parametrize(("change", "key", "expected"), [
    ({"profile": "toaster"}, "devices[0].profile", "a device profile"),
    ({"port": 70000}, "devices[0].port", "a TCP port"),
    ({"password": "hunter2"}, "devices[0].password", "passwords are not supported"),
    ({"name": "a b"}, "devices[0].name", "letters, digits"),
    ({"tags": "x", "extras": 3}, "devices[0].extras", "a list of strings"),
])
def test_errors_name_the_key_path(change, key, expected):
    with pytest.raises(UsageError) as err:
        parse_inventory({"devices": [{**BOARD, **change}]}, "fleet.yaml")
    assert f"fleet.yaml: at '{key}'" in str(err.value) and expected in str(err.value)


def test_missing_field_duplicate_name_and_unknown_selection():
    with pytest.raises(UsageError, match=r"at 'devices\[0\].host'"):
        parse_inventory({"devices": [{k: v for k, v in BOARD.items() if k != "host"}]})
    with pytest.raises(UsageError, match=r"at 'devices\[1\].name': expected a name no other device has"):
        parse_inventory({"devices": [BOARD, BOARD]})
    inv = parse_inventory({"devices": [BOARD]}, "fleet.yaml")
    with pytest.raises(UsageError, match="no device named nope"):
        inv.select(names=["nope"])
    with pytest.raises(UsageError, match="no device has any of the tags"):
        inv.select(tags=["gpu"])


def test_relative_key_is_read_beside_the_inventory(tmp_path):
    (tmp_path / "fleet.yaml").write_text(yaml.safe_dump({"known_hosts": "kh", "devices": [{**BOARD, "key": "k"}]}))
    inv = load_inventory(tmp_path / "fleet.yaml")
    assert inv.devices[0].key == str(tmp_path / "k") and inv.known_hosts == str(tmp_path / "kh")


def test_cli_bad_inventory_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "fleet.yaml"
    bad.write_text("devices: [{name: a}]\n")
    assert main(["fleet", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "at 'devices[0].host'" in err and "Traceback" not in err
    assert main(["fleet", "check", str(tmp_path / "none.yaml")]) == 2
    assert main(["fleet", "run", "--inventory", str(bad), "--out", str(tmp_path / "o")]) == 2


def test_a_pipeline_suite_is_refused_before_any_board_is_touched(tmp_path, capsys):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    if not (repo / "suites" / "pipelines.yaml").is_file():
        pytest.skip("no pipeline suite in this tree")
    inv = tmp_path / "fleet.yaml"
    inv.write_text(yaml.safe_dump({"devices": [BOARD]}))
    assert main(["fleet", "run", str(repo / "suites" / "pipelines.yaml"), "--inventory", str(inv), "--out",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "at 'pipelines'" in err and "Traceback" not in err
