"""pytest plugin: edgebench model benchmarks inside a pytest / pytest-benchmark suite.

Registered through the ``pytest11`` entry point (name ``edgebench``), so an installed edgebench
makes these available in any test suite::

    import pytest
    from harness.pytest_plugin import edgebench_cases

    # every model × backend × precision of a suite becomes one test: test_suite[talking-head-onnxruntime-int8]
    @pytest.mark.edgebench(suite="suites/quick.yaml")
    def test_suite(edgebench_model, benchmark):
        record = edgebench_model.measure(benchmark)  # pytest-benchmark timing + memory, power, size, fidelity

    # or an explicit list, with pytest's own parametrize
    @pytest.mark.parametrize("edgebench_case", edgebench_cases(models=["foley"], backends=["onnxruntime"],
                                                               precisions=["fp32", "int8-dynamic"]))
    def test_foley(edgebench_model, benchmark):
        assert edgebench_model.measure(benchmark).quality["sqnr_db"] > 20

``edgebench_model`` prepares (converts/quantizes, cached under ``<out>/cache``) and loads the
configuration in this process through the same backend adapters and the same input data as
``edgebench run``; ``measure`` times it with ``benchmark.pedantic`` (input selection in ``setup``,
outside the timing; rounds and warm-up from the suite's runner settings) and puts memory, power,
artifact size and fidelity into ``benchmark.extra_info``. A backend that cannot run here skips the
test with its reason. When pytest-benchmark is disabled (``--benchmark-disable``, or pytest-xdist),
``measure`` is a correctness smoke test: one inference, its outputs checked against fp32.

Importing this module is cheap and needs no runtime: pytest loads it in every session of an
environment where edgebench is installed, so everything heavy is imported when a test asks for it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # pragma: no cover - typing only; these import numpy and the suite machinery
    from backends.base import Artifact, Backend, ModelSource, TensorSpec
    from harness.launchers import InProcessLauncher
    from harness.plan import RunPlan
    from harness.suite import BackendSpec, DataSettings, ModelSpec, PrecisionSpec, Suite
    from results.schema import RunRecord

CASE_FIXTURE = "edgebench_case"
MARKER = "edgebench"
ENTRY_POINT = "edgebench"
ENV_OUT = "EDGEBENCH_OUT"
ENV_DEVICE = "EDGEBENCH_DEVICE"
ENV_SUITE = "EDGEBENCH_SUITE"
PROBE_CALLS = 3  # untimed calls after the first inference that size the number of rounds
_MODEL_SUFFIXES = (".onnx", ".tflite", ".xml")


class EdgebenchWarning(UserWarning):
    """A measurement that finished but deserves attention (poor fidelity, capped rounds, ...)."""


# ------------------------------------------------------------------------------------------------
# Cases: one model × backend × precision, expanded from a suite file or explicit lists.
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EdgebenchCase:
    """One configuration to benchmark. The device (and so its runner defaults) is chosen when the
    test runs, not when it is collected, so the same test IDs work on every machine."""

    model: ModelSpec
    backend: BackendSpec
    precision: PrecisionSpec
    runner_given: Mapping[str, Any] = field(default_factory=dict)  # suite settings + explicit overrides
    data: DataSettings | None = None
    suite: str | None = None
    gates: Mapping[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """``talking-head-onnxruntime-int8``: the test ID pytest shows (``-k`` selects on it)."""
        backend = self.backend.name.rpartition(":")[2] if ":" in self.backend.name else self.backend.name
        return f"{self.model.name}-{backend}-{self.precision.name}"

    def plan(self, device: str = "host", device_defaults: Mapping[str, Any] | None = None,
             backend_defaults: Mapping[str, dict[str, Any]] | None = None) -> RunPlan:
        """The run plan on ``device``: device defaults < suite < explicit overrides (as ``edgebench run``);
        the device profile's backend options under the case's own."""
        from harness.plan import RunPlan, with_defaults
        from harness.suite import DataSettings, RunnerSettings

        runner = RunnerSettings().merged(dict(device_defaults or {})).merged(dict(self.runner_given))
        backend = with_defaults(self.backend, dict(backend_defaults or {}))
        return RunPlan(model=self.model, backend=backend, precision=self.precision, runner=runner,
                       data=self.data or DataSettings(), device=device, suite=self.suite, gates=dict(self.gates))

    def __str__(self) -> str:
        return self.id


def edgebench_cases(
    suite: str | os.PathLike[str] | None = None,
    *,
    models: Sequence[str | os.PathLike[str] | Mapping[str, Any]] | None = None,
    backends: Sequence[str | Mapping[str, Any]] | None = None,
    precisions: Sequence[str | Mapping[str, Any]] | None = None,
    runner: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    gates: Mapping[str, str] | None = None,
    name: str | None = None,
    base: str | os.PathLike[str] | None = None,
) -> list[Any]:
    """``pytest.param`` objects, one per model × backend × precision, for
    ``@pytest.mark.parametrize("edgebench_case", edgebench_cases(...))``.

    With ``suite`` (a YAML file), ``models``/``backends``/``precisions`` pick names from it; without,
    they define the configurations (entries as in a suite file: a zoo name, a model path, or a mapping;
    backends default to onnxruntime, precisions to fp32). ``runner`` overrides the runner settings
    (``warmup``, ``min_iterations``, ``min_duration_s``, ``max_duration_s``, ``fresh_inputs``, ``threads``),
    ``data`` the data settings (``evaluation``, ``calibration``, ``seed``, ...). Relative paths are read
    from ``base`` (default: the calling file's folder), else from the working directory.
    """
    if base is None:
        caller = sys._getframe(1).f_globals.get("__file__")
        base = Path(caller).resolve().parent if caller else Path.cwd()
    cases = expand_cases(suite, models=models, backends=backends, precisions=precisions, runner=runner,
                         data=data, gates=gates, name=name, base=Path(base))
    return [pytest.param(case, id=case.id) for case in cases]


def expand_cases(
    suite: str | os.PathLike[str] | None = None,
    *,
    models: Sequence[Any] | None = None,
    backends: Sequence[Any] | None = None,
    precisions: Sequence[Any] | None = None,
    runner: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    gates: Mapping[str, str] | None = None,
    name: str | None = None,
    base: Path | None = None,
) -> list[EdgebenchCase]:
    """The cases of a suite file or of explicit lists (see ``edgebench_cases``); raises
    ``harness.errors.UsageError`` with what was expected and found."""
    from harness.errors import UsageError

    base = base or Path.cwd()
    if suite is not None:
        loaded = _restrict(_load_suite(suite, [base, Path.cwd()]), models, backends, precisions)
    elif models:
        loaded = _suite_from_lists(models, backends, precisions, name, base)
    else:
        raise UsageError("edgebench: nothing to benchmark: give suite='suites/quick.yaml' or models=[...] "
                         "(a zoo name, a model path, or a mapping as in a suite file)")
    if runner:
        loaded = dataclasses.replace(loaded, runner=_checked_runner(loaded, runner))
    if data:
        loaded = dataclasses.replace(loaded, data=_checked_data(loaded, data))
    if gates:
        loaded = dataclasses.replace(loaded, gates={**loaded.gates, **{str(k): str(v) for k, v in gates.items()}})
    given = _runner_given(loaded)
    return [
        EdgebenchCase(model=m, backend=b, precision=p, runner_given=given, data=loaded.data, suite=loaded.name,
                      gates=dict(loaded.gates))
        for m in loaded.models
        for b in loaded.backends
        for p in loaded.precisions
    ]


def _load_suite(path: str | os.PathLike[str], bases: Sequence[Path]) -> Suite:
    from harness.errors import UsageError
    from harness.suite import load_suite

    p = Path(path)
    candidates = [p] if p.is_absolute() else [b / p for b in bases]
    for candidate in candidates:
        if candidate.is_file():
            return load_suite(candidate)
    raise UsageError(f"edgebench: suite file {path} not found (looked at {', '.join(str(c) for c in candidates)}); "
                     "give a path relative to the test file or the working directory")


def _restrict(suite: Suite, models: Sequence[Any] | None, backends: Sequence[Any] | None,
              precisions: Sequence[Any] | None) -> Suite:
    """Keep the named models/backends/precisions of a suite; a name the suite lacks is an error."""
    from harness.errors import UsageError

    def pick(items: list[Any], wanted: Sequence[Any] | None, what: str) -> list[Any]:
        if not wanted:
            return items
        names = [w if isinstance(w, str) else None for w in wanted]
        if None in names:
            raise UsageError(f"{suite.path}: with a suite, {what}= takes names from it, found {list(wanted)!r}")
        have = [i.name for i in items]
        missing = [n for n in names if n not in have]
        if missing:
            raise UsageError(f"{suite.path}: {what} {missing} not in the suite (it has {have}); "
                             f"pick from those or drop suite= and list the {what} yourself")
        return [i for i in items if i.name in names]

    return dataclasses.replace(suite, models=pick(suite.models, models, "models"),
                               backends=pick(suite.backends, backends, "backends"),
                               precisions=pick(suite.precisions, precisions, "precisions"))


def _suite_from_lists(models: Sequence[Any], backends: Sequence[Any] | None, precisions: Sequence[Any] | None,
                      name: str | None, base: Path) -> Suite:
    from harness.suite import parse_suite

    raw_models = []
    for m in models:
        if isinstance(m, os.PathLike):
            raw_models.append({"path": os.fspath(m)})
        elif isinstance(m, str) and m.lower().endswith(_MODEL_SUFFIXES):
            raw_models.append({"path": m})
        else:
            raw_models.append(dict(m) if isinstance(m, Mapping) else m)
    raw: dict[str, Any] = {"name": name or "pytest", "models": raw_models}
    if backends:
        raw["backends"] = list(backends)
    if precisions:
        raw["precisions"] = list(precisions)
    return parse_suite(raw, source="edgebench_cases(...)", base=base)


def _checked_runner(suite: Suite, overrides: Mapping[str, Any]) -> Any:
    """Runner overrides validated by the suite parser itself (same messages as a suite file)."""
    from harness.suite import parse_suite

    given = {**_runner_given(suite), **dict(overrides)}
    return parse_suite({"models": ["x.onnx"], "runner": given}, source="runner=").runner


def _checked_data(suite: Suite, overrides: Mapping[str, Any]) -> Any:
    from harness.suite import parse_suite

    base = {k: v for k, v in dataclasses.asdict(suite.data).items() if v is not None}
    return parse_suite({"models": ["x.onnx"], "data": {**base, **dict(overrides)}}, source="data=").data


def _runner_given(suite: Suite) -> dict[str, Any]:
    """The runner settings the suite (or an override) set, i.e. those that differ from the defaults."""
    from harness.suite import RunnerSettings

    default = RunnerSettings()
    return {f.name: getattr(suite.runner, f.name) for f in dataclasses.fields(RunnerSettings)
            if getattr(suite.runner, f.name) != getattr(default, f.name)}


# ------------------------------------------------------------------------------------------------
# pytest hooks
# ------------------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("edgebench", "edgebench model benchmarks")
    group.addoption("--edgebench-out", metavar="DIR", default=None,
                    help="output folder for the artifact cache (and the store with --edgebench-store); "
                    f"default: ${ENV_OUT} or ./out")
    group.addoption("--edgebench-device", metavar="NAME", default=None,
                    help=f"device profile (host, jetson, rpi, coral, nvidia-gpu, auto); default: ${ENV_DEVICE} "
                    "or auto-detect")
    group.addoption("--edgebench-suite", metavar="FILE", default=None,
                    help="suite for tests that use edgebench_case/edgebench_model without a marker "
                    f"(default: ${ENV_SUITE})")
    group.addoption("--edgebench-store", action="store_true", default=False,
                    help="also save each measured configuration as a run in <out>/edgebench.sqlite")
    parser.addini("edgebench_suite", "suite for edgebench tests without a marker", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "edgebench(suite=None, *, models=None, backends=None, precisions=None, runner=None, data=None, gates=None): "
        "parametrize the edgebench_case fixture (and so edgebench_model) over model × backend × precision",
    )


def _parametrized_by_user(metafunc: pytest.Metafunc) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        argnames = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else list(argnames)
        if CASE_FIXTURE in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CASE_FIXTURE not in metafunc.fixturenames or _parametrized_by_user(metafunc):
        return
    from harness.errors import EdgebenchError

    marker = metafunc.definition.get_closest_marker(MARKER)
    test_dir = Path(str(metafunc.definition.fspath)).parent
    bases = [test_dir, metafunc.config.rootpath]
    try:
        if marker is not None:
            if len(marker.args) > 1:
                raise pytest.UsageError(f"{metafunc.definition.nodeid}: @pytest.mark.edgebench takes at most one "
                                        f"positional argument (the suite), found {len(marker.args)}")
            kwargs = dict(marker.kwargs)
            suite = marker.args[0] if marker.args else kwargs.pop("suite", None)
            kwargs.pop("suite", None)
            cases = _cases_from_marker(suite, kwargs, bases)
        else:
            suite = _default_suite(metafunc.config)
            if not suite:
                pytest.fail(f"{metafunc.definition.nodeid} uses the {CASE_FIXTURE} fixture (edgebench_model needs "
                            "it) but says nothing to benchmark: add @pytest.mark.edgebench(suite='suites/quick.yaml'), "
                            f"parametrize {CASE_FIXTURE} with edgebench_cases(...), or pass --edgebench-suite FILE",
                            pytrace=False)
            cases = _cases_from_marker(suite, {}, bases)
    except EdgebenchError as exc:
        pytest.fail(f"{metafunc.definition.nodeid}: {exc}", pytrace=False)
    metafunc.parametrize(CASE_FIXTURE, cases, ids=[c.id for c in cases])


def _cases_from_marker(suite: Any, kwargs: dict[str, Any], bases: list[Path]) -> list[EdgebenchCase]:
    unknown = set(kwargs) - {"models", "backends", "precisions", "runner", "data", "gates", "name"}
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.edgebench: unknown argument(s) {sorted(unknown)}; expected suite, "
                                "models, backends, precisions, runner, data, gates or name")
    if suite is not None and not Path(suite).is_absolute():
        # The marker's suite path is read from the test file's folder, then the rootdir, then the cwd.
        for b in bases:
            if (b / suite).is_file():
                suite = b / suite
                break
    return expand_cases(suite, base=bases[0], **kwargs)


def _default_suite(config: pytest.Config) -> str | None:
    return config.getoption("--edgebench-suite") or config.getini("edgebench_suite") or os.environ.get(ENV_SUITE)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    """Device facts into pytest-benchmark's machine info (saved with every result file).

    Only stable facts go in: pytest-benchmark warns on ``--benchmark-compare`` when machine info
    differs, so a changing value (a git commit, a temperature) would warn on every comparison."""
    try:
        machine_info["edgebench"] = _session(config).machine_info()
    except Exception as exc:  # device facts must never cost the user their benchmark results
        machine_info["edgebench"] = {"error": f"{type(exc).__name__}: {exc}"}


# ------------------------------------------------------------------------------------------------
# Session state: output folder, device profile, telemetry (resolved on first use, not at start-up).
# ------------------------------------------------------------------------------------------------


class EdgebenchSession:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._profile: Any = None
        self._telemetry: Any = None
        self._environment: dict[str, Any] | None = None
        self._facts: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def out_dir(self) -> Path:
        return Path(self.config.getoption("--edgebench-out") or os.environ.get(ENV_OUT) or "out")

    @property
    def cache_dir(self) -> Path:
        return self.out_dir / "cache"  # the same layout as ``edgebench run``: artifacts are shared

    @property
    def save_records(self) -> bool:
        return bool(self.config.getoption("--edgebench-store"))

    @property
    def profile(self) -> Any:
        if self._profile is None:
            from devices.profiles import DeviceError, resolve

            name = self.config.getoption("--edgebench-device") or os.environ.get(ENV_DEVICE) or "auto"
            try:
                self._profile = resolve(name)
            except DeviceError as exc:
                raise pytest.UsageError(f"edgebench: {exc}") from exc
        return self._profile

    @property
    def facts(self) -> dict[str, Any]:
        if self._facts is None:
            self._facts = dict(self.profile.facts())
        return self._facts

    @property
    def device(self) -> dict[str, Any]:
        return {"name": self.profile.name, **self.facts}

    @property
    def environment(self) -> dict[str, Any]:
        if self._environment is None:
            from devices.environment import capture_environment
            from harness import __version__

            self._environment = capture_environment(__version__)
        return self._environment

    @property
    def telemetry(self) -> Any:
        if self._telemetry is None:
            from devices.telemetry import Telemetry

            self._telemetry = Telemetry.for_profile(self.profile)
        return self._telemetry

    def machine_info(self) -> dict[str, Any]:
        from devices.environment import package_versions
        from harness import __version__

        return {"device": self.profile.name, "facts": self.facts, "packages": package_versions(),
                "edgebench_version": __version__}


_SESSION_KEY = pytest.StashKey[EdgebenchSession]()


def _session(config: pytest.Config) -> EdgebenchSession:
    if _SESSION_KEY not in config.stash:
        config.stash[_SESSION_KEY] = EdgebenchSession(config)
    return config.stash[_SESSION_KEY]


def autoloaded() -> bool:
    """Whether pytest loads this plugin by itself (edgebench installed, plugin autoload on): a
    conftest adds ``pytest_plugins = ["harness.pytest_plugin"]`` only when it does not, since a
    plugin registered twice under two names is an error."""
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    from importlib import metadata

    try:
        found = metadata.entry_points(group="pytest11")
    except Exception:  # a broken distribution must not stop the run
        return False
    return any(ep.name == ENTRY_POINT and ep.value.startswith(__name__) for ep in found)


# ------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------


@pytest.fixture
def edgebench_session(request: pytest.FixtureRequest) -> EdgebenchSession:
    """Where artifacts go, which device profile, which telemetry: shared by the whole session."""
    return _session(request.config)


@pytest.fixture
def edgebench_model(request: pytest.FixtureRequest, edgebench_case: EdgebenchCase,
                    edgebench_session: EdgebenchSession) -> Iterable[LoadedModel]:
    """The configuration of ``edgebench_case``, prepared and loaded; skips when it cannot run here."""
    model = LoadedModel.open(edgebench_case, edgebench_session)
    try:
        yield model
    finally:
        model.close()


# ------------------------------------------------------------------------------------------------
# The loaded model and its measurement: the same Phases, trackers and record_from as `edgebench run`,
# driven by the in-process launcher; pytest-benchmark times the window.
# ------------------------------------------------------------------------------------------------


class LoadedModel:
    """A configuration prepared and loaded in this process, ready to measure.

    ``measure(benchmark)`` is the usual call; ``infer``, ``feeds``, ``reference_outputs`` and
    ``fidelity`` are there for tests that check more than speed.
    """

    def __init__(self, case: EdgebenchCase, session: EdgebenchSession, plan: RunPlan, backend: Backend,
                 record: RunRecord, launcher: InProcessLauncher) -> None:
        from harness.phases import Phases

        self.case, self.session, self.plan, self.backend, self.record = case, session, plan, backend, record
        self.source: ModelSource = plan.resolved_source()
        self.reference: ModelSource | None = plan.reference
        self.launcher = launcher
        self.phases = Phases(plan, backend, session.cache_dir, launcher.listener, launcher.min_window_s())
        self._closed = False
        self._measured = False
        self._loud: list[str] = []

    # -- opening --------------------------------------------------------------------------------
    @classmethod
    def open(cls, case: EdgebenchCase, session: EdgebenchSession) -> LoadedModel:
        """Prepare and load ``case``; ``pytest.skip`` with the reason when it cannot run here."""
        from backends.base import UnsupportedVariant
        from harness.launchers import InProcessLauncher
        from harness.record import base_record
        from harness.trackers import default_trackers

        plan = cls._plan(case, session)
        record = base_record(plan, session.device, session.environment)
        record.runner = dict(vars(plan.runner))
        launcher = InProcessLauncher(default_trackers(session.telemetry, plan.runner, session.profile.options,
                                                      in_process=True)).start()
        model = cls(case, session, plan, plan.backend_class()(plan.backend_options()), record, launcher)
        try:
            model.phases.prepare()
            model.phases.load()
        except UnsupportedVariant as exc:
            model.close()
            pytest.skip(str(exc))
        except BaseException:
            model.close()
            raise
        return model

    @staticmethod
    def _plan(case: EdgebenchCase, session: EdgebenchSession) -> RunPlan:
        """The case's plan on this device, resolved (model files, reference, adapter); skips or fails."""
        from backends.base import BackendError
        from harness.errors import EdgebenchError
        from harness.runner import precheck

        profile = session.profile
        plan = case.plan(profile.name, profile.runner_defaults, profile.backend_options)
        try:
            why_not = precheck(plan)
        except BackendError as exc:
            pytest.fail(f"edgebench: {exc}", pytrace=False)
        if why_not:
            pytest.skip(why_not)
        try:
            plan = plan.resolved(session.cache_dir / "zoo")
        except EdgebenchError as exc:
            pytest.fail(f"edgebench: {exc}", pytrace=False)
        source = plan.resolved_source()
        if source.format not in plan.backend_class().source_formats:
            pytest.skip(f"{plan.backend.name} does not run {source.format} models ({source.path.name})")
        return plan

    # -- what the phases hold -------------------------------------------------------------------
    @property
    def artifact(self) -> Artifact | None:
        return getattr(self.phases, "artifact", None)

    @property
    def input_specs(self) -> list[TensorSpec]:
        return self.phases.specs

    @property
    def evaluation(self) -> list[dict[str, Any]]:
        """Float inputs (as the fp32 reference takes them)."""
        return self.phases.evaluation

    @property
    def feeds(self) -> list[dict[str, Any]]:
        """The timing inputs, cast once to what this artifact takes."""
        return self.phases.pool

    def _cast(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        return self.phases.cast(feeds)

    # -- using ----------------------------------------------------------------------------------
    def infer(self, feeds: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One inference (on the first timing input by default); float outputs by name."""
        return self.backend.infer(self.feeds[0] if feeds is None else feeds)

    def reference_outputs(self, inputs: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """fp32 outputs (the model's fp32 file on its native runtime) for ``inputs`` (default: the
        evaluation set), cached under ``<out>/cache/reference``."""
        from harness import reference as ref

        if self.reference is None:
            raise ValueError("no fp32 reference: the case's data.evaluation is 0")
        return ref.reference_outputs(self.reference, list(inputs if inputs is not None else self.evaluation),
                                     self.session.cache_dir / "reference")

    def fidelity(self, inputs: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """Fidelity of this configuration's outputs to fp32 on ``inputs`` (default: the evaluation
        set): the record's quality group (sqnr_db, cosine, ...), or a dict with the reason."""
        from harness.quality.scoring import score

        inputs = list(inputs if inputs is not None else self.evaluation)
        if self.reference is None or not inputs:
            return {"reason": "not scored: no evaluation inputs (data.evaluation is 0)"}
        outputs = [self.backend.infer(self._cast(f)) for f in inputs]
        return score(self.plan, self.source, self.reference, inputs, outputs, self.session.cache_dir)

    def measure(self, benchmark: Any = None, *, rounds: int | None = None, warmup_rounds: int | None = None,
                check: bool = True) -> RunRecord:
        """Time this configuration with pytest-benchmark and return its RunRecord.

        Rounds and warm-up come from the runner settings: at least ``min_iterations`` rounds and
        ``min_duration_s`` seconds (estimated from a few untimed calls), capped by ``max_duration_s``;
        pytest-benchmark's ``--benchmark-min-rounds`` raises the count further.
        With pytest-benchmark disabled (``--benchmark-disable``, xdist) or ``benchmark=None`` this
        is a smoke test: one inference, checked against fp32. With ``check`` (default), NaN/Inf
        outputs, outputs that do not match the fp32 reference's names/shapes, and failed quality
        gates fail the test (after the measurement is recorded).
        """
        if self._measured:
            raise RuntimeError("measure() was already called for this edgebench_model; pytest-benchmark allows "
                               "one measurement per test")
        self._measured = True
        enabled = benchmark is not None and getattr(benchmark, "enabled", False)
        if benchmark is not None and getattr(benchmark, "group", None) is None:
            # pytest-benchmark's table then puts the backends/precisions of one model side by side.
            benchmark.group = self.record.model.get("name")
        if enabled:
            self._benchmark(benchmark, rounds, warmup_rounds)
        else:
            self._smoke(benchmark)
        record = self.record
        if benchmark is not None:
            benchmark.extra_info.update(extra_info(record))
        # Only what calls for action becomes a pytest warning; every note stays in the record/extra_info.
        for note in self._loud:
            warnings.warn(EdgebenchWarning(f"{self.case.id}: {note}"), stacklevel=2)
        if enabled and self.session.save_records:
            self._save(record)
        if check:
            self._check(record)
        return record

    def _finish(self) -> None:
        """The record from the phases' result and the trackers' figures (the code `edgebench run` uses)."""
        from harness.record import quality_warnings, record_from

        result = self.phases.finish()
        record_from(self.plan, result, self.record, self.launcher.stop(result))
        self._loud += quality_warnings(self.record.quality, self.plan.data.fidelity_floor_db)

    def _smoke(self, benchmark: Any) -> None:
        """One inference through the same path as a benchmark, its outputs compared with fp32."""
        raw = self.evaluation[:1] or self.phases.raw_pool[:1]
        feeds = self._cast(raw[0])
        self.phases.listener.phase("first_inference")
        if benchmark is not None:
            # Disabled pytest-benchmark calls the target once, untimed: the user's --benchmark-disable contract.
            outputs = benchmark.pedantic(self.backend.infer, setup=lambda: ((feeds,), {}), rounds=1)
        else:
            outputs = self.backend.infer(feeds)
        self.record.extra["mode"] = "smoke"
        self._smoke_outputs = outputs
        if self.reference is None:
            self.phases.result.quality = {"reason": "not scored: data.evaluation is 0 (no fp32 reference)"}
        else:
            self._compare_shapes(self.reference_outputs(raw)[0], outputs)
            from harness.quality.scoring import score

            self.phases.result.quality = score(self.plan, self.source, self.reference, raw, [outputs],
                                               self.session.cache_dir)
        self._finish()

    def _benchmark(self, benchmark: Any, rounds: int | None, warmup_rounds: int | None) -> None:
        runner, phases = self.plan.runner, self.phases
        self.launcher.settle()  # cool-down and idle power, as the runner does before a run
        phases.first_inference()
        probe_ns = []
        for i in range(PROBE_CALLS):
            t0 = time.perf_counter_ns()
            self.backend.infer(self.feeds[(i + 1) % len(self.feeds)])
            probe_ns.append(time.perf_counter_ns() - t0)
        estimate_s = sorted(probe_ns)[len(probe_ns) // 2] / 1e9
        if rounds is None:
            rounds = self._rounds(estimate_s, *phases.window_bounds_s())
        warmup_rounds = runner.warmup if warmup_rounds is None else warmup_rounds
        phases.result.warmup_iterations = warmup_rounds
        # pytest-benchmark owns the clock of the window; the warm-up rounds run inside it.
        phases.timed_window(loop=pedantic_loop(benchmark, rounds, warmup_rounds), min_iterations=rounds)
        phases.evaluate()
        self._finish()
        self.record.extra["mode"] = "benchmark"
        self.record.runner.update({"rounds": rounds, "warmup_rounds": warmup_rounds, "probe_calls": PROBE_CALLS,
                                   "timer": "pytest-benchmark (perf_counter)"})

    def _rounds(self, estimate_s: float, min_duration_s: float, max_duration_s: float) -> int:
        runner = self.plan.runner
        rounds, capped = plan_rounds(estimate_s, runner.min_iterations, min_duration_s, max_duration_s)
        if capped:
            note = (f"rounds capped at {rounds} by max_duration_s ({runner.max_duration_s:g} s), "
                    f"under min_iterations ({runner.min_iterations})")
            self.phases.result.warnings.append(note)
            self._loud.append(note)
        # pytest-benchmark's own --benchmark-min-rounds (default 5) is a floor, e.g. for steadier CI comparisons.
        floor = self.session.config.getoption("benchmark_min_rounds", None)
        if isinstance(floor, int) and floor > rounds:
            rounds = floor
        return rounds

    def _compare_shapes(self, expected: Mapping[str, Any], outputs: Mapping[str, Any]) -> None:
        import numpy as np

        missing = [n for n in expected if n not in outputs]
        if missing:
            pytest.fail(f"{self.case.id}: outputs {missing} of the fp32 reference are missing (this configuration "
                        f"returned {sorted(outputs)})", pytrace=False)
        for name, ref in expected.items():
            got = np.asarray(outputs[name])
            if got.shape != np.asarray(ref).shape:
                pytest.fail(f"{self.case.id}: output {name!r} has shape {list(got.shape)}, the fp32 reference "
                            f"{list(np.asarray(ref).shape)}", pytrace=False)

    def _check(self, record: RunRecord) -> None:
        import numpy as np

        outputs = getattr(self, "_smoke_outputs", None)
        if outputs is not None:
            bad = [n for n, v in outputs.items()
                   if np.issubdtype(np.asarray(v).dtype, np.floating) and not np.isfinite(v).all()]
            if bad:
                pytest.fail(f"{self.case.id}: NaN/Inf in outputs {bad}: this configuration is broken", pytrace=False)
        if (record.quality or {}).get("nonfinite"):
            pytest.fail(f"{self.case.id}: {record.quality['nonfinite']} NaN/Inf values in the outputs on the "
                        "evaluation set: this configuration is broken", pytrace=False)
        failed = {name: g for name, g in (record.gates or {}).items() if g.get("passed") is False}
        if failed:
            shown = "; ".join(f"{n} {g['spec']} (found {g['value']})" for n, g in failed.items())
            pytest.fail(f"{self.case.id}: quality gate(s) failed: {shown}", pytrace=False)

    def _save(self, record: RunRecord) -> None:
        from results.store import ResultStore

        with ResultStore(self.session.out_dir / "edgebench.sqlite") as store:
            store.save(record)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.launcher.stop(None)
        try:
            self.backend.close()
        except Exception as exc:  # a failing close must not hide the test's own outcome
            warnings.warn(EdgebenchWarning(f"{self.case.id}: backend close failed: {exc}"), stacklevel=2)


def pedantic_loop(benchmark: Any, rounds: int, warmup_rounds: int) -> Any:
    """A ``TimedLoop`` in which pytest-benchmark times each round (input choice in ``setup``, untimed)."""

    def loop(call: Any, args: Sequence[Any], min_iterations: int, min_s: float, max_s: float) -> tuple[list[int], int]:
        cycle = itertools.cycle(args)

        def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
            return (next(cycle),), {}

        benchmark.pedantic(call, setup=setup, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
        stats_obj = getattr(getattr(benchmark, "stats", None), "stats", None)
        data_s = list(getattr(stats_obj, "data", None) or [])
        # The window also holds the warm-up rounds: energy per inference divides by every inference in it.
        return [round(s * 1e9) for s in data_s], rounds + warmup_rounds

    return loop


def plan_rounds(estimate_s: float, min_iterations: int, min_duration_s: float,
                max_duration_s: float) -> tuple[int, bool]:
    """Rounds for ``benchmark.pedantic``: the runner's stop rule (at least ``min_iterations`` and
    ``min_duration_s``, capped by ``max_duration_s``) turned into a count from a per-call estimate.
    Returns (rounds, capped below min_iterations)."""
    per_call = max(estimate_s, 1e-7)
    rounds = max(int(min_iterations), math.ceil(min_duration_s / per_call), 1)
    cap = max(1, math.floor(max_duration_s / per_call))
    return (cap, cap < min_iterations) if rounds > cap else (rounds, False)


def extra_info(record: RunRecord) -> dict[str, Any]:
    """What goes into ``benchmark.extra_info``: a few headline figures flat (readable in the JSON),
    then the record's groups as they are, so ``edgebench import-pytest`` restores the run."""
    from harness import __version__
    from results.pytest_import import EXTRA_INFO_MARK
    from results.schema import sanitize

    quality = record.quality or {}
    info: dict[str, Any] = {
        EXTRA_INFO_MARK: __version__,
        "run_id": record.run_id,
        "mode": record.extra.get("mode"),
        "model": record.model.get("name"),
        "backend": record.backend.get("name"),
        "precision": record.precision,
        "device": record.device.get("name"),
        "suite": record.suite,
        # headline figures, units in the names
        "peak_rss_bytes": (record.memory or {}).get("peak_rss_bytes"),
        "artifact_bytes": record.artifact_bytes,
        "energy_per_inference_mj": (record.power or {}).get("energy_per_inference_mj"),
        "sqnr_db": quality.get("sqnr_db"),
        "cosine": quality.get("cosine"),
        # the record's own groups
        "record": {
            "model": record.model, "backend": record.backend, "variant": record.variant, "runner": record.runner,
            "prepare_s": record.prepare_s, "load_s": record.load_s, "first_inference_ms": record.first_inference_ms,
            "warmup_iterations": record.warmup_iterations, "batch_size": record.batch_size,
            "latency_ms": record.latency_ms, "memory": record.memory, "artifact": record.artifact,
            "power": record.power, "thermal": record.thermal, "quality": record.quality, "gates": record.gates,
            "warnings": record.warnings,
            "extra": {k: v for k, v in record.extra.items() if k in ("inputs", "outputs", "telemetry_sources")},
        },
    }
    return sanitize(info)


__all__ = [
    "EdgebenchCase",
    "EdgebenchSession",
    "EdgebenchWarning",
    "LoadedModel",
    "autoloaded",
    "edgebench_cases",
    "expand_cases",
    "extra_info",
    "plan_rounds",
]

# Pipelines: one configuration per case, one generation per round (fixture edgebench_pipeline).
from harness.pytest_pipeline import edgebench_pipeline  # noqa: E402,F401 - registers the fixture
