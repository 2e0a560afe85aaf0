"""The reference model zoo: deterministic ONNX proxies of the workloads edgebench is for.

Each model is generated from seeded numpy weights with ``onnx.helper`` (opset 17, no downloads,
no PyTorch): the same code gives the same bytes, so an exported file's sha256 is stable. Node names
carry their module (``audio_encoder/…``, ``upsampler/…``) so error and cost can be attributed per
module, and ``ZooModel.samples`` generates representative inputs (calibration and evaluation
splits are disjoint).

    >>> from harness import zoo
    >>> zoo.names()
    ['foley', 'talking-head']
    >>> path = zoo.get("foley").export("out/zoo")
"""

from __future__ import annotations

import difflib

from harness.errors import UsageError
from harness.zoo._model import ZooModel

__all__ = ["ZooModel", "get", "names"]


def _registry() -> dict[str, ZooModel]:
    from harness.zoo import foley, talking_head

    return {m.name: m for m in (foley.MODEL, talking_head.MODEL)}


def names() -> list[str]:
    return sorted(_registry())


def get(name: str) -> ZooModel:
    models = _registry()
    if name not in models:
        close = difflib.get_close_matches(str(name), list(models), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UsageError(
            f"unknown zoo model {name!r}{hint}: known models are {', '.join(sorted(models))}; "
            "see `edgebench zoo list`"
        )
    return models[name]
