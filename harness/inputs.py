"""The inputs of a run: shapes resolved from the model and the user, the data cast once to what the
artifact takes, and the calibration / evaluation / timing sets (shared by every launcher)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from backends.base import ModelSource, TensorSpec
from harness.plan import RunPlan


def resolve_specs(specs: Sequence[TensorSpec],
                  overrides: Mapping[str, Sequence[int]]) -> tuple[list[TensorSpec], list[str]]:
    """Fix dynamic dims from the user's shapes; a lone dynamic batch dim defaults to 1 (said in a warning)."""
    resolved, notes = [], []
    unknown = set(overrides) - {s.name for s in specs}
    if unknown:
        raise ValueError(
            f"input shape given for {sorted(unknown)} but the model's inputs are {[s.name for s in specs]}; "
            "fix the name in --shape / the suite's inputs"
        )
    for spec in specs:
        if spec.name in overrides:
            shape = tuple(int(d) for d in overrides[spec.name])
            if len(shape) != len(spec.shape) or any(
                isinstance(d, int) and d > 0 and d != s for d, s in zip(spec.shape, shape)
            ):
                raise ValueError(
                    f"input {spec.name!r}: shape {list(shape)} does not fit the model's {list(spec.shape)}; "
                    "give a shape with the same rank that keeps the fixed dims"
                )
        elif spec.is_static:
            shape = tuple(int(d) for d in spec.shape)
        else:
            dynamic = [i for i, d in enumerate(spec.shape) if not (isinstance(d, int) and d > 0)]
            if dynamic != [0]:
                raise ValueError(
                    f"input {spec.name!r} has dynamic dims {list(spec.shape)}; fix them with "
                    f"--shape {spec.name}=" + "x".join(str(d) if isinstance(d, int) and d > 0 else "N"
                                                       for d in spec.shape)
                )
            shape = (1, *(int(d) for d in spec.shape[1:]))
            notes.append(f"input {spec.name!r}: dynamic batch dim set to 1 (use --shape to choose)")
        resolved.append(TensorSpec(spec.name, shape, spec.dtype, spec.layout))
    return resolved, notes


def as_model_dtype(feeds: Mapping[str, np.ndarray], specs: Sequence[TensorSpec]) -> dict[str, np.ndarray]:
    """Cast once, outside the timed loop, to what the model takes (float data stays float for quantized I/O:
    the adapter quantizes it, and that cost is part of what an application pays)."""
    out = {}
    for spec in specs:
        array = np.asarray(feeds[spec.name])
        dtype = np.dtype(spec.dtype) if spec.dtype not in ("int8", "uint8") else np.float32
        out[spec.name] = np.ascontiguousarray(array.astype(dtype, copy=False))
    return out


def data_specs(specs: Sequence[TensorSpec]) -> list[TensorSpec]:
    """Quantized I/O takes float data like every other variant: the adapter quantizes it."""
    return [TensorSpec(s.name, s.shape, "float32" if s.dtype in ("int8", "uint8", "float16") else s.dtype, s.layout)
            for s in specs]


def calibration_for(plan: RunPlan, source: ModelSource) -> list[dict[str, np.ndarray]]:
    from backends.base import onnx_io_specs
    from harness import data

    specs, _ = resolve_specs(onnx_io_specs(source.path)[0] if source.format == "onnx" else [], source.input_shapes)
    return data.calibration_set(plan.model.zoo, specs, calib_dir=plan.data.calibration_dir,
                                n=plan.data.calibration, seed=plan.data.seed, values=plan.model.input_values)


def evaluation_for(plan: RunPlan, source: ModelSource, specs: list[TensorSpec]) -> list[dict[str, np.ndarray]]:
    if plan.data.evaluation <= 0:
        return []
    from harness import data

    # With a calibration folder, evaluation uses the user's own files held out from calibration.
    return data.evaluation_set(plan.model.zoo, specs, calib_dir=plan.data.calibration_dir, n=plan.data.evaluation,
                               seed=plan.data.seed, values=plan.model.input_values)


def timing_inputs(plan: RunPlan, source: ModelSource, specs: list[TensorSpec],
                   evaluation: list[dict[str, np.ndarray]], n: int) -> list[dict[str, np.ndarray]]:
    if len(evaluation) >= n:
        return evaluation[:n]
    from harness import data

    return data.evaluation_set(plan.model.zoo, specs, n=n, seed=plan.data.seed + 7919, values=plan.model.input_values)


def timing_source(plan: RunPlan, specs: Sequence[TensorSpec]) -> str:
    """Where the timed inputs came from (``data.source_of``'s words) for the inputs the user did not fix:
    the evaluation set (a calibration folder's held-out files) when it is large enough, else generated."""
    from harness import data
    from harness.phases import INPUT_POOL_SIZE

    pool = INPUT_POOL_SIZE if plan.runner.fresh_inputs else 1
    from_folder = plan.data.calibration_dir is not None and plan.data.evaluation >= pool
    return data.source_of(plan.model.zoo, data_specs(specs), plan.data.calibration_dir if from_folder else None)
