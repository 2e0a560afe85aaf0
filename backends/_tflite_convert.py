"""ONNX → TFLite conversion with onnx2tf + TensorFlow, offline, and the layout facts it leaves behind.

Precisions: fp32, fp16 (float16 weights, float compute), int8-dynamic (dynamic-range: int8 weights,
float activations) and int8 (full-integer, calibrated with the harness's calibration feeds; its
inputs and outputs are int8 by default, ``settings.io`` = uint8 | float32 to change that). Edge TPU
compilation goes through ``edgetpu_compiler`` when it is on PATH.

Offline: onnx2tf downloads a sample image file from GitHub (for calibration unless given custom
calibration data, and to check its conversion whenever every input looks like an RGB image), and
calls onnxsim in a subprocess. We give it our own calibration arrays
(``custom_input_op_name_np_data_path``), replace its sample-file fetch with local seeded data, turn
onnxsim off, and run it in a child process whose sockets refuse to connect, so a future onnx2tf
that reaches for the network fails loudly instead of downloading.

Layout: onnx2tf turns NCHW graphs into NHWC ones, so a converted model's 4D inputs/outputs are
channels-last. ``io_layout`` works out, per tensor, the permutation from the ONNX reference layout
to the TFLite one; the LiteRT adapter applies it so feeds and outputs stay in the ONNX layout.

TensorFlow/onnx2tf are imported lazily; importing this module needs numpy only.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backends._tflite_io import dequantize as _dequantize
from backends._tflite_io import quantize as _quantize
from backends.base import Artifact, BackendError, Feeds, ModelSource, UnsupportedVariant, Variant, artifact_bytes

CONVERTIBLE = ("fp32", "fp16", "int8-dynamic", "int8")
# Calibration samples onnx2tf receives (the representative dataset); more only slows conversion.
MAX_CALIBRATION_SAMPLES = 100


# ---------------------------------------------------------------------------------------------
# Layout helpers (pure numpy)
# ---------------------------------------------------------------------------------------------


def channels_last_perm(rank: int) -> tuple[int, ...]:
    """The permutation NC... → N...C (e.g. (0, 2, 3, 1) for rank 4); identity for rank < 3."""
    if rank < 3:
        return tuple(range(rank))
    return (0, *range(2, rank), 1)


def inverse_perm(perm: Sequence[int]) -> tuple[int, ...]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def candidate_perms(reference_shape: Sequence[int], artifact_shape: Sequence[int]) -> list[tuple[int, ...]]:
    """Permutations p (identity, channels-last) with ``artifact_shape == reference_shape[p]``.

    Two candidates mean the shape alone cannot tell (e.g. [1, 8, 8, 8]); none means the tensor is
    not the reference one re-laid out.
    """
    ref, art = tuple(int(d) for d in reference_shape), tuple(int(d) for d in artifact_shape)
    if len(ref) != len(art):
        return []
    found: list[tuple[int, ...]] = []
    for perm in (tuple(range(len(ref))), channels_last_perm(len(ref))):
        if tuple(ref[p] for p in perm) == art and perm not in found:
            found.append(perm)
    return found


def perm_between(reference_shape: Sequence[int], artifact_shape: Sequence[int],
                 prefer_channels_last: bool = False) -> tuple[int, ...] | None:
    """The permutation p with ``artifact_shape == reference_shape[p]``, or None.

    When both identity and channels-last fit, ``prefer_channels_last`` picks (onnx2tf moves the
    channels of every rank>=3 input last, so for converted inputs it is the right guess).
    """
    found = candidate_perms(reference_shape, artifact_shape)
    if not found:
        return None
    return found[-1] if prefer_channels_last else found[0]


def to_artifact_layout(array: np.ndarray, perm: Sequence[int] | None) -> np.ndarray:
    if perm is None or list(perm) == list(range(len(perm))):
        return array
    return np.transpose(array, perm)


def to_reference_layout(array: np.ndarray, perm: Sequence[int] | None) -> np.ndarray:
    if perm is None or list(perm) == list(range(len(perm))):
        return array
    return np.transpose(array, inverse_perm(perm))


def reference_name(tflite_name: str, dtype: Any) -> str:
    """The name a .tflite tensor goes by in edgebench: TFLite's quantized-I/O rewrite appends
    ``_int8`` / ``_uint8`` to the tensors it retypes (``input_1`` → ``input_1_int8``), so a float/int8
    pair would otherwise disagree on names; the suffix of an integer tensor is dropped."""
    kind = np.dtype(dtype).name
    if kind in ("int8", "uint8") and tflite_name.endswith(f"_{kind}"):
        return tflite_name[: -len(kind) - 1]
    return tflite_name


# ---------------------------------------------------------------------------------------------
# Availability
# ---------------------------------------------------------------------------------------------


def converter_available() -> str | None:
    """None when onnx2tf + TensorFlow import; else the reason in words."""
    import importlib.util

    missing = [m for m in ("onnx2tf", "tensorflow", "tf_keras", "onnx_graphsurgeon", "sng4onnx")
               if importlib.util.find_spec(m) is None]
    if missing:
        return (f"ONNX→TFLite conversion needs {', '.join(missing)} (not installed); "
                "install the 'convert' extra: pip install -e '.[convert]' (x86-64 hosts)")
    return None


def edgetpu_compiler_path() -> str | None:
    return shutil.which("edgetpu_compiler")


# ---------------------------------------------------------------------------------------------
# Conversion
# ---------------------------------------------------------------------------------------------


def _onnx_inputs(path: Path, fixed: Mapping[str, Sequence[int]]) -> list[tuple[str, tuple[int, ...], str]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    found = []
    for vi in model.graph.input:
        if vi.name in initializers:
            continue
        t = vi.type.tensor_type
        dims: list[int] = []
        for i, d in enumerate(t.shape.dim):
            if vi.name in fixed:
                dims.append(int(fixed[vi.name][i]))
            elif d.HasField("dim_value") and d.dim_value > 0:
                dims.append(int(d.dim_value))
            elif i == 0:
                dims.append(1)  # a dynamic batch dim: convert for batch 1
            else:
                raise UnsupportedVariant(
                    f"input {vi.name!r} of {path.name} has a dynamic dim {i} ({d.dim_param or '?'}); "
                    "TFLite needs static shapes: fix it with 'inputs: {name: [..]}' in the suite"
                )
        found.append((vi.name, tuple(dims), onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name))
    return found


def _onnx_outputs(path: Path) -> list[str]:
    import onnx

    return [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]


def _fix_static_shapes(src: Path, inputs: list[tuple[str, tuple[int, ...], str]], dst: Path) -> Path:
    """onnx2tf wants static input shapes; write a copy with the resolved dims."""
    import onnx

    model = onnx.load(str(src))
    shapes = {n: s for n, s, _ in inputs}
    for vi in model.graph.input:
        if vi.name in shapes:
            for d, v in zip(vi.type.tensor_type.shape.dim, shapes[vi.name]):
                d.Clear()
                d.dim_value = v
    onnx.save(model, str(dst))
    return dst


def _calibration_arrays(calibration: Iterable[Feeds] | None,
                        inputs: list[tuple[str, tuple[int, ...], str]],
                        workdir: Path) -> list[list[Any]]:
    """onnx2tf's custom calibration: per input [name, .npy of N×(NHWC sample), mean .npy, std .npy].

    The arrays hold the samples as the TF model sees them (channels-last), and mean 0 / std 1 so
    onnx2tf does not renormalise: our samples already are the model's real inputs. Everything is a
    file so the conversion child process gets it through a JSON job description.
    """
    if calibration is None:
        raise BackendError(
            "full-integer int8 TFLite conversion needs calibration data (an iterable of feed dicts); "
            "none was given: set data.calibration in the suite or pass --calib DIR"
        )
    per_input: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in inputs}
    for n, feeds in enumerate(calibration):
        if n >= MAX_CALIBRATION_SAMPLES:
            break
        for name, shape, _ in inputs:
            if name not in feeds:
                raise BackendError(f"calibration sample {n} has no input {name!r}: found {sorted(feeds)}")
            arr = np.asarray(feeds[name], dtype=np.float32).reshape(shape)
            per_input[name].append(to_artifact_layout(arr, channels_last_perm(len(shape)))[0])
    if not all(per_input.values()):
        raise BackendError("the calibration iterable was empty: full-integer int8 needs at least one sample")
    spec = []
    for i, (name, shape, _) in enumerate(inputs):
        stack = np.stack(per_input[name]).astype(np.float32)
        channels = stack.shape[-1] if len(shape) >= 3 else 1
        mean = np.zeros([1] * (len(shape) - 1) + [channels], np.float32)
        paths = [workdir / f"calib_{i}.npy", workdir / f"calib_{i}_mean.npy", workdir / f"calib_{i}_std.npy"]
        for path, array in zip(paths, (stack, mean, np.ones_like(mean))):
            np.save(path, array)
        spec.append([name, *(str(p) for p in paths)])
    return spec


# ---------------------------------------------------------------------------------------------
# The conversion child process: TensorFlow never loads into the harness's (or the runner's)
# process, where it would add seconds of import and ~1 GB of memory to what is measured, and
# where its own TFLite runtime would sit beside LiteRT's.
# ---------------------------------------------------------------------------------------------


def block_network() -> None:
    """Make every socket connection and name lookup in this process fail loudly."""
    import socket

    def refuse(*_a: Any, **_k: Any) -> Any:
        raise OSError("edgebench converts offline: a network access was attempted and refused")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.create_connection = refuse
    socket.getaddrinfo = refuse


def _patch_sample_download() -> None:
    """Replace onnx2tf's sample-image fetch with local data, so conversion never touches the network.

    onnx2tf fetches a 20×128×128×3 image array from GitHub whenever every input looks like an RGB
    image, to check its conversion, even when given custom calibration data. We hand it seeded
    uniform [0, 1) data of that shape instead (it only feeds a dummy inference, not quantization).
    """
    import onnx2tf.onnx2tf as o2t_main
    from onnx2tf.utils import common_functions

    def local_sample(*_a: Any, **_k: Any) -> np.ndarray:
        return np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)

    common_functions.download_test_image_data = local_sample
    if hasattr(o2t_main, "download_test_image_data"):
        o2t_main.download_test_image_data = local_sample


def _child(job_path: str) -> int:
    """Run one onnx2tf conversion described by a JSON job file; the exit code tells the parent."""
    import json

    job = json.loads(Path(job_path).read_text())
    block_network()
    _patch_sample_download()
    kwargs = dict(job["kwargs"])
    if "custom_input_op_name_np_data_path" in kwargs:
        kwargs["custom_input_op_name_np_data_path"] = [
            [name, data, np.load(mean), np.load(std)]
            for name, data, mean, std in kwargs["custom_input_op_name_np_data_path"]
        ]
    os.chdir(job["workdir"])  # onnx2tf writes (and looks for) scratch files in the working directory
    import onnx2tf

    onnx2tf.convert(**kwargs)
    return 0


def _run_child(job: dict[str, Any], workdir: Path, timeout_s: float) -> str:
    import json
    import sys

    workdir = Path(workdir).resolve()  # the child's cwd is workdir: every path it gets must be absolute
    job_path = workdir / "job.json"
    job_path.write_text(json.dumps(job))
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
           "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    try:
        proc = subprocess.run([sys.executable, "-m", "backends._tflite_convert", str(job_path)], cwd=workdir,
                              env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise BackendError(f"onnx2tf conversion took longer than {timeout_s:g} s; raise settings.timeout_s") from exc
    log = proc.stdout + proc.stderr
    (workdir.parent / "convert.log").write_text(log)
    if proc.returncode != 0:
        raise UnsupportedVariant(f"onnx2tf could not convert the model (exit {proc.returncode}): {_failure(log)}")
    return log


def _failure(log: str) -> str:
    """The informative lines of a failed onnx2tf run: the op it stopped at and the error."""
    plain = re.sub(r"\x1b\[[0-9;]*m", "", log)  # onnx2tf colours its log
    lines = [ln.strip() for ln in plain.splitlines() if ln.strip()]
    keep = [ln for ln in lines if "onnx_op_type" in ln or "ERROR" in ln or "Error" in ln or "error:" in ln]
    return " | ".join((keep or lines)[-6:])[-1500:]


def convert(model: ModelSource, variant: Variant, calibration: Iterable[Feeds] | None,
            cache_dir: Path) -> Artifact:
    """Convert an ONNX model to a .tflite of ``variant.precision``; cached by source hash + variant.

    Settings (``Variant.settings``): ``io`` (int8 only: int8 | uint8 | float32, default int8),
    ``per_channel`` (default true), ``pseudo_ops`` (ONNX ops onnx2tf replaces by builtin-op
    approximations, default ``["erf"]``: without it GELU's Erf becomes a TF "Flex" op that the
    LiteRT interpreter cannot run), ``edgetpu`` (compile for the Edge TPU), ``timeout_s``.
    """
    if variant.precision not in CONVERTIBLE:
        raise UnsupportedVariant(
            f"ONNX→TFLite conversion makes {', '.join(CONVERTIBLE)}; {variant.precision} is not one of them"
        )
    reason = converter_available()
    if reason:
        raise UnsupportedVariant(reason)
    settings = dict(variant.settings)
    edgetpu = bool(settings.get("edgetpu"))
    if edgetpu and variant.precision != "int8":
        raise UnsupportedVariant(f"the Edge TPU runs full-integer int8 models only; {variant.precision} asked")
    if edgetpu and edgetpu_compiler_path() is None:
        raise UnsupportedVariant(
            "Edge TPU compilation needs edgetpu_compiler on PATH (Coral's Debian package 'edgetpu-compiler', "
            "x86-64 only); it is not installed here"
        )

    def place(precision: str) -> tuple[Path, Path]:
        where = Path(cache_dir) / "litert" / f"{model.sha256[:16]}-{Variant(precision, settings).key()}"
        name = f"{model.path.stem}_{precision}{'_edgetpu' if edgetpu and precision == 'int8' else ''}.tflite"
        return where / name, where / "layout.json"

    final, meta_path = place(variant.precision)
    if final.exists() and meta_path.exists():
        import json

        return _with_recipe(Artifact(final, "tflite", variant.precision, model.sha256, artifact_bytes(final),
                                     json.loads(meta_path.read_text())), settings, calibration)

    inputs = _onnx_inputs(model.path, dict(model.input_shapes))
    output_names = _onnx_outputs(model.path)
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
        # Absolute: the conversion child runs with its working directory set to ``work``, so a path
        # relative to ours (a relative --out) would point nowhere there.
        work = Path(tmp).resolve()
        src = _fix_static_shapes(model.path, inputs, work / "static.onnx")
        kwargs: dict[str, Any] = {
            "input_onnx_file_path": str(src),
            "output_folder_path": str(work / "tf"),
            "not_use_onnxsim": True,  # onnxsim runs as a subprocess and is not a dependency
            "non_verbose": True,
            "output_signaturedefs": True,  # the signature keeps the ONNX input/output names
            "replace_to_pseudo_operators": [str(op).lower() for op in settings.get("pseudo_ops", ["erf"])],
        }
        if variant.precision in ("int8", "int8-dynamic"):
            kwargs["output_integer_quantized_tflite"] = True
            kwargs["quant_type"] = "per-channel" if settings.get("per_channel", True) else "per-tensor"
        synthetic = variant.precision == "int8-dynamic" and calibration is None
        if synthetic:
            # onnx2tf makes the dynamic-range file in the same pass as the full-integer one, which
            # needs samples (or it downloads some). Dynamic range does not use them: give it two
            # seeded ones, and do not keep that pass's full-integer file.
            rng = np.random.default_rng(0)
            calibration = [{n: rng.standard_normal(shape).astype(np.float32) for n, shape, _ in inputs}
                           for _ in range(2)]
        if variant.precision in ("int8", "int8-dynamic"):
            # The full-integer file's own I/O type: int8 by default (as deployed on MCUs and the Edge
            # TPU; the adapter quantizes feeds and dequantizes outputs), or uint8 / float32.
            io_dtype = str(settings.get("io", "int8"))
            if io_dtype not in ("int8", "uint8", "float32"):
                raise BackendError(f"settings.io must be int8, uint8 or float32; found {io_dtype!r}")
            kwargs["input_quant_dtype"] = io_dtype
            kwargs["output_quant_dtype"] = io_dtype
            kwargs["custom_input_op_name_np_data_path"] = _calibration_arrays(calibration, inputs, work)
        _run_child({"kwargs": kwargs, "workdir": str(work)}, work, float(settings.get("timeout_s", 1800)))
        stem = src.stem
        produced = {
            "fp32": f"{stem}_float32.tflite",
            "fp16": f"{stem}_float16.tflite",
            "int8-dynamic": f"{stem}_dynamic_range_quant.tflite",
            "int8": f"{stem}_full_integer_quant.tflite",
        }
        made = work / "tf" / produced[variant.precision]
        if not made.exists():
            listing = sorted(p.name for p in (work / "tf").glob("*.tflite")) if (work / "tf").exists() else []
            # onnx2tf skips a precision it cannot quantize without failing: that is this converter's limit on
            # this model, so the run is skipped with the reason rather than counted as a broken run.
            raise UnsupportedVariant(
                f"onnx2tf could not produce {variant.precision} for this model: it finished without "
                f"{produced[variant.precision]} (it wrote {listing}); try int8-dynamic, or another backend"
            )
        if edgetpu:
            made = _edgetpu_compile(made, work / "edgetpu")
        # One onnx2tf pass writes several precisions (an int8 pass: fp32, fp16, dynamic-range and
        # full-integer): keep them all, so a suite asking for each converts once. By-products first,
        # so they are kept even when the asked-for file turns out not to run.
        for precision, file_name in produced.items():
            other, other_meta = place(precision)
            if precision == variant.precision or other_meta.exists() or not (work / "tf" / file_name).exists():
                continue
            if precision == "int8" and (edgetpu or synthetic):
                continue
            try:
                other_layout = io_layout(work / "tf" / file_name, src, inputs, output_names)
            except (BackendError, UnsupportedVariant):
                continue  # a by-product that does not load is just not kept
            other.parent.mkdir(parents=True, exist_ok=True)
            _store(work / "tf" / file_name, other_layout, other, other_meta)
        layout = io_layout(made, src, inputs, output_names)
        _store(made, layout, final, meta_path)
    return _with_recipe(Artifact(final, "tflite", variant.precision, model.sha256, artifact_bytes(final), layout),
                        settings, None if synthetic else calibration)


#: TFLite builtin ops that do a model's arithmetic; quantized when their weights (or operands) are int8
TFLITE_COMPUTE = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED", "BATCH_MATMUL", "CONV_3D")


def compute_nodes(path: Path) -> dict[str, Any]:
    """Compute ops of a .tflite file and how many take int8 operands (full-integer kernels, or the hybrid
    kernels of a dynamic-range file: int8 weights, activations quantized on the fly)."""
    from collections import Counter

    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    by_op: Counter[str] = Counter()
    quantized = 0
    for op in interp._get_ops_details():  # the only interpreter call that lists ops and operand types
        if op["op_name"] not in TFLITE_COMPUTE:
            continue
        int8 = any(np.dtype(t).kind in "iu" and np.dtype(t).itemsize == 1 for t in op["operand_types"][:2])
        quantized += int8
        by_op[f"{op['op_name']}:{'int8' if int8 else 'float'}"] += 1
    return {"quantized": quantized, "total": sum(by_op.values()), "by_op": dict(sorted(by_op.items())),
            "counted_in": "TFLite flatbuffer operators (operand types)"}


def _with_recipe(artifact: Artifact, settings: Mapping[str, Any], calibration: Any) -> Artifact:
    """The artifact with the converter recipe and its quantized compute count; an int8 file that
    computes nothing in int8 is a skipped run."""
    if not artifact.precision.startswith("int8"):
        return artifact
    recipe = {
        "tool": "onnx2tf + TFLiteConverter",
        "mode": "full-integer (representative dataset)" if artifact.precision == "int8" else "dynamic-range",
        "quant_type": "per-channel" if settings.get("per_channel", True) else "per-tensor",
        "io": str(settings.get("io", "int8")) if artifact.precision == "int8" else "float32",
        "representative_samples": min(len(calibration), MAX_CALIBRATION_SAMPLES)
        if isinstance(calibration, list) else None,
    }
    try:
        counts = compute_nodes(artifact.path)
    except Exception as exc:  # an interpreter without _get_ops_details: say so, do not guess
        counts = {"quantized": None, "total": None, "reason": f"could not list operators ({exc})"}
    if counts.get("quantized") == 0:
        raise UnsupportedVariant(f"the {artifact.precision} .tflite file runs 0 of {counts['total']} compute ops "
                                 f"in int8 ({counts['by_op']}): it would measure float, not int8")
    return Artifact(artifact.path, artifact.format, artifact.precision, artifact.source_sha256, artifact.bytes,
                    {**artifact.metadata, "recipe": recipe, "compute_nodes": counts})


def _store(made: Path, layout: dict[str, Any], final: Path, meta_path: Path) -> None:
    import json

    shutil.move(str(made), final)
    meta_path.write_text(json.dumps(layout))


def _edgetpu_compile(tflite: Path, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    compiler = edgetpu_compiler_path()
    assert compiler is not None
    proc = subprocess.run([compiler, "-s", "-o", str(out_dir), str(tflite)], capture_output=True, text=True,
                          timeout=600)
    made = out_dir / f"{tflite.stem}_edgetpu.tflite"
    if proc.returncode != 0 or not made.exists():
        raise BackendError(f"edgetpu_compiler failed (exit {proc.returncode}): "
                           f"{proc.stdout[-800:]}{proc.stderr[-800:]}")
    return made


def io_layout(tflite: Path, onnx_path: Path, onnx_inputs: list[tuple[str, tuple[int, ...], str]],
              onnx_outputs: list[str]) -> dict[str, Any]:
    """How the converted file's I/O maps to the ONNX reference: names and permutations.

    Output shapes come from one onnxruntime run on a seeded random input; when a shape alone
    cannot tell identity from channels-last, the candidate closer to the ONNX output wins.
    Returned as JSON-able artifact metadata: ``{"reference": "onnx", "inputs": {onnx_name:
    {"tflite": name, "perm": [...]}}, "outputs": {...}}``.
    """
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite))
    try:
        interp.allocate_tensors()
    except RuntimeError as exc:
        flex = sorted(set(re.findall(r"Flex(\w+)", str(exc))))
        what = f"TensorFlow 'Flex' ops {', '.join(flex)} (not builtin TFLite ops)" if flex else str(exc)[:400]
        raise UnsupportedVariant(f"the converted model needs {what}, which the LiteRT interpreter cannot run; "
                                 "add the ONNX op to settings.pseudo_ops if onnx2tf has a builtin replacement") from exc
    sigs = interp.get_signature_list()
    in_details = interp.get_input_details()
    out_details = interp.get_output_details()
    by_index = {d["index"]: d for d in in_details + out_details}
    meta: dict[str, Any] = {"reference": "onnx", "inputs": {}, "outputs": {}}
    sig_inputs: dict[str, int] = {}
    sig_outputs: dict[str, int] = {}
    if sigs:
        runner = interp.get_signature_runner(next(iter(sigs)))
        sig_inputs = {k: v["index"] for k, v in runner.get_input_details().items()}
        sig_outputs = {k: v["index"] for k, v in runner.get_output_details().items()}
        del runner  # it holds views into the interpreter, which would block invoke()
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(shape).astype(dtype) for n, shape, dtype in onnx_inputs}
    for pos, (name, shape, _) in enumerate(onnx_inputs):
        detail = by_index[_match(name, sig_inputs, in_details, pos)]
        perm = perm_between(shape, detail["shape"], prefer_channels_last=True)
        if perm is None:
            raise UnsupportedVariant(f"converted input {detail['name']} has shape {list(detail['shape'])}, "
                                     f"not a permutation of the ONNX input {name} {list(shape)}")
        meta["inputs"][name] = {"tflite": detail["name"], "index": int(detail["index"]), "perm": list(perm)}
        interp.set_tensor(detail["index"], _quantize(to_artifact_layout(feeds[name], perm), detail))
    try:
        interp.invoke()
    except RuntimeError as exc:
        # e.g. a full-integer LayerNorm whose variance quantizes to zero: "DIV ... data[i] != zero_point"
        raise UnsupportedVariant(f"onnx2tf's {tflite.name} does not run in LiteRT: "
                                 f"{' '.join(str(exc).split())[:400]}") from exc
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    expected = dict(zip(onnx_outputs, session.run(onnx_outputs, feeds)))
    taken: set[int] = set()
    for name in onnx_outputs:
        want = np.asarray(expected[name], dtype=np.float32)
        if name in sig_outputs:
            pool = [by_index[sig_outputs[name]]]
        else:  # quantized files lose the signature: any unmatched output of a fitting shape
            pool = [d for d in out_details if d["index"] not in taken and candidate_perms(want.shape, d["shape"])]
        options = [(d, p) for d in pool for p in candidate_perms(want.shape, d["shape"])]
        if not options:
            raise UnsupportedVariant(f"no converted output has the shape of ONNX output {name} {list(want.shape)} "
                                     f"(or its channels-last form); found {[list(d['shape']) for d in out_details]}")

        def error(option: tuple[dict[str, Any], tuple[int, ...]], want: np.ndarray = want) -> float:
            got = _dequantize(interp.get_tensor(option[0]["index"]), option[0])
            return float(np.mean((to_reference_layout(got, option[1]) - want) ** 2))

        detail, perm = min(options, key=error)
        taken.add(detail["index"])
        meta["outputs"][name] = {"tflite": detail["name"], "index": int(detail["index"]), "perm": list(perm)}
    return meta


def _sanitize(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).lower()


def _match(name: str, sig: dict[str, int], details: list[dict[str, Any]], position: int) -> int:
    if name in sig:
        return sig[name]
    wanted = _sanitize(name)
    for key, index in sig.items():
        if _sanitize(key) == wanted:
            return index
    for d in details:
        if _sanitize(d["name"]).endswith(wanted):
            return d["index"]
    if position < len(details):
        return details[position]["index"]
    raise BackendError(f"cannot find the converted tensor for ONNX name {name!r} among "
                       f"{[d['name'] for d in details]}")


if __name__ == "__main__":
    import sys

    sys.exit(_child(sys.argv[1]))
