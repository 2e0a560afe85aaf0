"""Seeded fuzzing of the suite validator (issue 15): a few hundred mutations of the shipped suites,
through the strict YAML loader and ``parse_suite`` only (nothing runs). The only exception allowed
out is the documented usage error; each case must finish within a bounded time and memory, so a
mutation that hangs or balloons fails here instead of on a user's machine."""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import UsageError
from harness.suite import parse_suite
from harness.yamlsafe import loads

ROOT = Path(__file__).resolve().parents[2]
SEED = 15
CASES = 300
#: generous ceilings: a case is a few kB of YAML; these catch hangs and blow-ups, not slowness
CASE_SECONDS = 5.0
CASE_PEAK_BYTES = 64 * 1024 * 1024

_JUNK: list[Any] = [None, True, 0, -1, 2**63, 1e308, float("nan"), "", "x" * 300, "1x3x-4x0", "..", "a/b",
                    [], [1, "a", None], {}, {"k": [1, 2]}, {"name": ["x"]}, "os:system", ">= banana", "<script>"]


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a parsed suite, as a tuple of keys/indices."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return doc


def _structural(rng: random.Random, doc: dict) -> str:
    """Replace, duplicate or add a value somewhere, then write the YAML out again."""
    path = rng.choice(_paths(doc))
    choice = rng.random()
    if choice < 0.6:
        doc = _set(doc, path, rng.choice(_JUNK))
    elif choice < 0.8 and path:
        doc = _set(doc, path, {rng.choice(["name", "zoo", "path", "options", "gates", "qq"]): rng.choice(_JUNK)})
    else:
        doc = dict(doc)
        doc[rng.choice(["gates", "data", "runner", "name", "precisions", "backends", "extra"])] = rng.choice(_JUNK)
    return yaml.safe_dump(doc, allow_unicode=True)


def _textual(rng: random.Random, text: str) -> str:
    """Edits a hand would make: a duplicated or dropped line, an alias, a tag, deep nesting, a flipped byte."""
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    kind = rng.randrange(7)
    if kind == 0:
        lines.insert(i, lines[i])
    elif kind == 1:
        del lines[i]
    elif kind == 2:
        lines[i] = lines[i] + " &a" if ":" in lines[i] else lines[i]
        lines.append("description: *a")
    elif kind == 3:
        lines[i] = lines[i].replace(": ", ": !!timestamp ", 1)
    elif kind == 4:
        depth = rng.choice([10, 40, 5000])
        lines.append("description: " + "[" * depth + "]" * depth)
    elif kind == 5:
        data = bytearray("\n".join(lines).encode())
        data[rng.randrange(len(data))] = rng.randrange(256)
        return data.decode("utf-8", errors="replace")
    else:
        lines.insert(i, f"{rng.choice(['1', 'null', 'true', '[a]'])}: x")
    return "\n".join(lines) + "\n"


def _mutations() -> list[str]:
    rng = random.Random(SEED)
    sources = [(ROOT / "suites" / name).read_text() for name in ("quick.yaml", "default.yaml")]
    out = []
    for _ in range(CASES):
        text = rng.choice(sources)
        if rng.random() < 0.5:
            out.append(_structural(rng, yaml.safe_load(text)))
        else:
            out.append(_textual(rng, text))
    return out


def test_validator_survives_seeded_mutations(tmp_path):
    # first imports (adapters, zoo) are not what is measured: load the shipped suite once
    parse_suite(loads((ROOT / "suites" / "quick.yaml").read_text()), "quick.yaml", tmp_path)
    outcomes = {"valid": 0, "usage error": 0}
    for n, text in enumerate(_mutations()):
        tracemalloc.start()
        started = time.monotonic()
        try:
            parse_suite(loads(text, f"case{n}.yaml"), f"case{n}.yaml", tmp_path)
            outcomes["valid"] += 1
        except UsageError as exc:
            outcomes["usage error"] += 1
            assert str(exc).strip(), f"case {n}: an empty message"
        except Exception as exc:  # anything else escaping is the bug this test exists to find
            pytest.fail(f"case {n}: {type(exc).__name__}: {exc}\n--- suite ---\n{text[:2000]}")
        finally:
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert elapsed < CASE_SECONDS, f"case {n} took {elapsed:.1f} s:\n{text[:2000]}"
        assert peak < CASE_PEAK_BYTES, f"case {n} peaked at {peak / 2**20:.0f} MiB:\n{text[:2000]}"
    # the mutations must exercise both sides, or the test proves nothing
    assert outcomes["valid"] > 0 and outcomes["usage error"] > CASES // 3, outcomes
