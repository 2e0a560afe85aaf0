"""Run plans: one model × backend × precision with everything the runner needs, and how a suite
expands into them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from backends.base import Backend, ModelSource, Variant, file_sha256, format_of
from harness.errors import UsageError
from harness.profiling import ProfileSettings
from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, RunnerSettings, Suite


@dataclass(frozen=True)
class RunPlan:
    model: ModelSpec
    backend: BackendSpec
    precision: PrecisionSpec
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    data: DataSettings = field(default_factory=DataSettings)
    device: str = "host"
    suite: str | None = None
    gates: dict[str, str] = field(default_factory=dict)
    profile: ProfileSettings = field(default_factory=ProfileSettings)
    # Resolved once by ``resolved()`` (not part of the plan's identity): the file a run starts from,
    # the fp32 file it is scored against (None without evaluation), the adapter class.
    source: ModelSource | None = field(default=None, compare=False)
    reference: ModelSource | None = field(default=None, compare=False)
    backend_cls: type[Backend] | None = field(default=None, compare=False, repr=False)

    def resolved(self, zoo_dir: Path) -> RunPlan:
        """This plan with its model source, reference and backend class resolved (raises UsageError for a
        missing/corrupt model file, BackendError for an unknown backend)."""
        source = self.source or model_source(self.model, self.precision.name, zoo_dir)
        reference = self.reference
        if reference is None and self.data.evaluation > 0:
            reference = reference_source(self.model, zoo_dir)
        return dataclasses.replace(self, source=source, reference=reference, backend_cls=self.backend_class())

    def backend_class(self) -> type[Backend]:
        if self.backend_cls is not None:
            return self.backend_cls
        from backends import get_backend

        return get_backend(self.backend.name)

    def resolved_source(self) -> ModelSource:
        if self.source is None:
            raise RuntimeError(f"plan {self.label} was not resolved: call plan.resolved(zoo_dir) first")
        return self.source

    @property
    def label(self) -> str:
        return f"{self.model.name} · {self.backend.name} · {self.precision.name}"

    def variant(self) -> Variant:
        settings: dict[str, Any] = dict(self.precision.settings)
        if self.precision.name in self.model.variants:
            settings["prebuilt"] = True
        return Variant(self.precision.name, settings)

    def backend_options(self) -> dict[str, Any]:
        options = dict(self.backend.options)
        if self.runner.threads is not None:
            options.setdefault("threads", self.runner.threads)
        if self.precision.name.startswith("int8"):
            options.setdefault("cpu_isa", _cpu_isa())  # decides the quantization recipe's "auto" settings
        return options


def with_defaults(spec: BackendSpec, defaults: dict[str, dict[str, Any]] | None) -> BackendSpec:
    """The device profile's options for this backend under the suite's own."""
    given = (defaults or {}).get(spec.name)
    return BackendSpec(spec.name, {**given, **spec.options}) if given else spec


@lru_cache(maxsize=1)
def _cpu_isa() -> tuple[str, ...]:
    from devices.environment import cpu_info

    return tuple(cpu_info().get("isa_features") or ())


def model_source(spec: ModelSpec, precision: str, zoo_dir: Path) -> ModelSource:
    """The file a run starts from: the zoo export, the given file, or the declared variant file."""
    if spec.zoo:
        from harness import zoo

        path = zoo.get(spec.zoo).export(zoo_dir)
        kinds = {**zoo.get(spec.zoo).output_kinds, **spec.output_kinds}
    elif spec.variants:
        path = Path(spec.variants.get(precision) or spec.variants["fp32"])
        kinds = dict(spec.output_kinds)
    else:
        path = Path(spec.path or "")
        kinds = dict(spec.output_kinds)
    check_model_file(path)
    stat = path.stat()
    return ModelSource(path=path, name=spec.name, sha256=_sha256(str(path), stat.st_size, stat.st_mtime_ns),
                       format=format_of(path), input_shapes=dict(spec.input_shapes), output_kinds=kinds)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    """Hash once per file version: a suite resolves the same model for every backend × precision."""
    return file_sha256(path)


def reference_source(spec: ModelSpec, zoo_dir: Path) -> ModelSource:
    """The fp32 model whose outputs every variant of ``spec`` is scored against."""
    return model_source(spec, "fp32", zoo_dir)


def check_model_file(path: Path) -> None:
    if not path.is_file():
        raise UsageError(f"model file {path} does not exist; check the path (relative paths in a suite are read "
                         "from the suite file's folder)")
    fmt = format_of(path)  # raises with the list of known suffixes
    stat = path.stat()
    if stat.st_size == 0:
        raise UsageError(f"model file {path} is empty; re-export it")
    _check_readable(path, fmt, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _check_readable(path: Path, fmt: str, size: int, mtime_ns: int) -> None:
    """Catch a corrupt file before a run starts: a clear error beats a runtime's protobuf trace.
    Cached per file version (size, mtime), so a suite parses each model once, not once per run."""
    if fmt == "onnx":
        import onnx

        try:
            onnx.load(str(path), load_external_data=False)
        except Exception as exc:
            raise UsageError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc}); "
                             "re-export it or check the download") from exc
    elif fmt == "tflite":
        with open(path, "rb") as f:
            head = f.read(8)
        if head[4:8] != b"TFL3":
            raise UsageError(f"{path} is not a TFLite flatbuffer (no 'TFL3' identifier, found {head[4:8]!r}); "
                             "re-convert it")
    elif fmt == "openvino":
        import xml.etree.ElementTree as ET

        try:
            ET.parse(path)
        except ET.ParseError as exc:
            raise UsageError(f"{path} is not a readable OpenVINO IR ({exc}); re-export it") from exc
        if not path.with_suffix(".bin").is_file():
            raise UsageError(f"{path}: the weights file {path.with_suffix('.bin').name} is missing beside it")


def expand(suite: Suite, device: str = "host", runner_overrides: dict[str, Any] | None = None,
           device_defaults: dict[str, Any] | None = None,
           backend_defaults: dict[str, dict[str, Any]] | None = None) -> list[RunPlan]:
    """Suite × device -> plans. Precedence of runner settings: device defaults < suite < command line;
    of backend options: the device profile's (``backend_defaults``) < the suite's."""
    runner = runner_settings(suite, runner_overrides, device_defaults)
    return [
        RunPlan(model=m, backend=with_defaults(b, backend_defaults), precision=p, runner=runner, data=suite.data,
                device=device, suite=suite.name, gates=dict(suite.gates), profile=suite.profile)
        for m in suite.models
        for b in suite.backends
        for p in suite.precisions
    ]


def runner_settings(suite: Suite, runner_overrides: dict[str, Any] | None = None,
                    device_defaults: dict[str, Any] | None = None) -> RunnerSettings:
    """The runner settings of a suite's runs: device defaults < suite < command line."""
    suite_given = {f.name: getattr(suite.runner, f.name) for f in dataclasses.fields(RunnerSettings)
                   if getattr(suite.runner, f.name) != getattr(RunnerSettings(), f.name)}
    return RunnerSettings().merged(device_defaults or {}).merged(suite_given).merged(runner_overrides or {})
