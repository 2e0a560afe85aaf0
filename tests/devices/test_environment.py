"""The CPU features that decide precision speed, read from a FAKE /proc/cpuinfo of each CPU kind."""

from __future__ import annotations

import pytest

from devices.environment import cpu_info, precision_features

CPUINFO = {
    "avx2-only": "processor\t: 0\nmodel name\t: Fake Core i5\nflags\t\t: sse4_2 avx avx2 fma f16c\n",
    "avx512-vnni-bf16": "processor\t: 0\nmodel name\t: Fake Xeon\nflags\t\t: avx2 avx512f avx512bw avx512_vnni "
                        "avx512_bf16\n",
    "sapphire-rapids": "processor\t: 0\nflags\t\t: avx2 avx512f avx512_vnni avx512_bf16 avx512_fp16 amx_tile "
                       "amx_int8 amx_bf16\n",
    "cortex-a76": "processor\t: 0\nFeatures\t: fp asimd evtstrm aes crc32 atomics fphp asimdhp asimddp\n",
    "neoverse-v1": "processor\t: 0\nFeatures\t: fp asimd fphp asimdhp asimddp i8mm bf16 sve\n",
    "cortex-a53": "processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n",
}


@pytest.mark.parametrize(("kind", "native", "features"), [
    ("avx2-only", ["fp32"], {"AVX2": True, "AVX-512": False, "VNNI": False, "BF16": False, "AMX": False}),
    ("avx512-vnni-bf16", ["fp32", "int8", "bf16"], {"AVX-512": True, "VNNI": True, "BF16": True, "FP16": False}),
    ("sapphire-rapids", ["fp32", "int8", "bf16", "fp16"], {"AMX": True, "FP16": True}),
    ("cortex-a76", ["fp32", "int8", "fp16"], {"dotprod": True, "i8mm": False, "bf16": False, "fp16": True}),
    ("neoverse-v1", ["fp32", "int8", "bf16", "fp16"], {"i8mm": True, "bf16": True}),
    ("cortex-a53", ["fp32"], {"dotprod": False, "fp16": False}),
])
def test_precision_features_of_each_cpu_kind(tmp_path, monkeypatch, kind, native, features):
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text(CPUINFO[kind])
    monkeypatch.setenv("EDGEBENCH_FS_ROOT", str(tmp_path))
    found = cpu_info()["precision_features"]
    assert found["native"] == native
    assert {k: found["features"][k] for k in features} == features
    assert found["arch"] == ("arm" if "Features" in CPUINFO[kind] else "x86")


def test_no_flags_says_why():
    assert precision_features([], "x86_64")["reason"] == "no ISA flags readable from /proc/cpuinfo"


def test_each_backend_says_how_each_precision_computes_on_each_cpu_kind():
    import backends

    avx2 = precision_features(["avx2"], "x86_64")
    bf16 = precision_features(["avx2", "avx512f", "avx512_vnni", "avx512_bf16"], "x86_64")
    ov = backends.get_backend("openvino")
    assert ov.native_precisions(bf16)["bf16"] == "native" and "runs fp32" in ov.native_precisions(avx2)["bf16"]
    assert "runs bf16" in ov.native_precisions(bf16)["fp16"] and "runs fp32" in ov.native_precisions(avx2)["fp16"]
    assert ov.native_precisions(bf16)["int8"] == "native" and "no VNNI" in ov.native_precisions(avx2)["int8"]
    for name in ("onnxruntime", "litert"):
        assert backends.get_backend(name).native_precisions(bf16)["bf16"].startswith("skipped")
    for name, cls in backends.registry().items():
        assert set(cls.native_precisions(avx2)) == set(cls.precisions), name
