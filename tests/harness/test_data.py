"""Calibration/evaluation data: folders of .npy/.npz, the zoo generators, random feeds."""

from __future__ import annotations

import numpy as np
import pytest

from backends.base import TensorSpec
from harness import data, zoo
from harness.errors import UsageError

TWO = [TensorSpec("mel", (1, 4, 6), "float32"), TensorSpec("ids", (1, 3), "int64")]
ONE = [TensorSpec("x", (1, "n", 5), "float32")]


def write_npz(folder, n, start=0, **overrides):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        arrays = {"mel": np.full((1, 4, 6), i, np.float32), "ids": np.full((1, 3), i, np.int64)}
        arrays.update(overrides)
        np.savez(folder / f"s{i:03d}.npz", **arrays)
    return folder


def test_load_folder_reads_npz_in_order(tmp_path):
    write_npz(tmp_path, 3)
    samples = data.load_folder(tmp_path, TWO)
    assert [int(s["mel"][0, 0, 0]) for s in samples] == [0, 1, 2]
    assert samples[0]["ids"].dtype == np.int64


def test_npy_for_a_single_input_model_with_a_dynamic_dim(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((1, 7, 5), np.float64))  # float64 is cast to the model's float32
    np.save(tmp_path / "b.npy", np.ones((1, 9, 5), np.float32))
    samples = data.load_folder(tmp_path, ONE)
    assert [s["x"].shape for s in samples] == [(1, 7, 5), (1, 9, 5)]
    assert samples[0]["x"].dtype == np.float32


def test_npy_for_a_multi_input_model_is_refused(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((1, 4, 6), np.float32))
    with pytest.raises(UsageError, match=r"a.npy: a .npy file holds one array, but the model has 2 inputs"):
        data.load_folder(tmp_path, TWO)


def test_mismatches_name_file_input_expected_and_found(tmp_path):
    (tmp_path / "names").mkdir()
    np.savez(tmp_path / "names" / "s000.npz", mels=np.zeros((1, 4, 6), np.float32), ids=np.zeros((1, 3), np.int64))
    with pytest.raises(UsageError) as exc:
        data.load_folder(tmp_path / "names", TWO)
    msg = str(exc.value)
    assert "s000.npz" in msg and "expected ['ids', 'mel']" in msg and "found ['ids', 'mels']" in msg
    assert "missing ['mel']" in msg

    write_npz(tmp_path / "shape", 1, mel=np.zeros((1, 4, 7), np.float32))
    with pytest.raises(UsageError, match=r"s000.npz: input 'mel': expected shape \[1, 4, 6\], found \[1, 4, 7\]"):
        data.load_folder(tmp_path / "shape", TWO)

    write_npz(tmp_path / "dtype", 1, ids=np.zeros((1, 3), np.float32))
    with pytest.raises(UsageError, match="input 'ids': expected dtype int64, found float32"):
        data.load_folder(tmp_path / "dtype", TWO)

    write_npz(tmp_path / "ints", 1, ids=np.zeros((1, 3), np.int32))  # int32 ids are cast
    assert data.load_folder(tmp_path / "ints", TWO)[0]["ids"].dtype == np.int64


def test_empty_missing_and_unreadable_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"holds no \.npy/\.npz files"):
        data.load_folder(tmp_path / "empty", TWO)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match=r"found: notes\.txt"):
        data.load_folder(tmp_path / "other", TWO)
    with pytest.raises(UsageError, match="does not exist"):
        data.load_folder(tmp_path / "missing", TWO)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.npy").write_bytes(b"not numpy")
    with pytest.raises(UsageError, match="cannot read it as a numpy file"):
        data.load_folder(tmp_path / "bad", ONE)


def test_random_feeds_ranges_and_determinism():
    specs = [TensorSpec("x", (64, 64), "float32"), TensorSpec("ids", (1, 500), "int64")]
    a = data.random_feeds(specs, 2, seed=3)
    assert abs(float(a[0]["x"].mean())) < 0.1 and abs(float(a[0]["x"].std()) - 1) < 0.1
    assert a[0]["ids"].min() >= 0 and a[0]["ids"].max() < 100 and a[0]["ids"].dtype == np.int64
    b = data.random_feeds(specs, 2, seed=3)
    assert np.array_equal(a[1]["x"], b[1]["x"])
    assert not np.array_equal(a[0]["x"], a[1]["x"])
    with pytest.raises(UsageError, match="dynamic shape"):
        data.random_feeds(ONE, 1)
    with pytest.raises(UsageError, match="non-negative integer"):
        data.random_feeds(specs, -2)


def _same(a, b):
    return all(np.array_equal(a[k], b[k]) for k in a)


def test_sources_zoo_random_and_folder_with_disjoint_evaluation(tmp_path):
    th = zoo.get("talking-head")
    cal = data.calibration_set("talking-head", th.inputs, n=2)
    assert _same(cal[0], th.samples("calibration", 1)[0])
    assert data.source_of("talking-head", th.inputs) == "zoo:talking-head"
    ev = data.evaluation_set(th, th.inputs, n=2)
    assert not any(_same(c, e) for c in cal for e in ev)

    # a zoo name whose inputs do not match (a user's own file named like a zoo model) gets random data
    assert data.source_of("talking-head", TWO) == "random"
    rnd_cal = data.calibration_set("talking-head", [*TWO[:1], TensorSpec("ids", (1, 3), "int64")], n=3)
    rnd_ev = data.evaluation_set(None, TWO, n=3)
    assert rnd_cal[0]["ids"].max() < 100
    assert not any(_same(c, e) for c in rnd_cal for e in rnd_ev)

    folder = write_npz(tmp_path / "calib", 8)
    cal = data.calibration_set("talking-head", TWO, calib_dir=folder, n=100)
    ev = data.evaluation_set("talking-head", TWO, calib_dir=folder, n=100)
    assert [int(s["mel"].flat[0]) for s in cal] == [0, 1, 2, 3, 4, 5]
    assert [int(s["mel"].flat[0]) for s in ev] == [6, 7]
    assert len(data.calibration_set(None, TWO, calib_dir=folder, n=2)) == 2
    assert data.source_of(None, TWO, folder) == f"folder:{folder}"

    single = write_npz(tmp_path / "one", 1)
    assert len(data.calibration_set(None, TWO, calib_dir=single, n=10)) == 1
    fallback = data.evaluation_set(None, TWO, calib_dir=single, n=2)
    assert len(fallback) == 2 and fallback[0]["ids"].max() < 100
