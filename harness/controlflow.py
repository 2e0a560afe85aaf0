"""Data-dependent control flow in a model, and the inputs it depends on.

A graph with ``If``/``Loop``/``Scan`` (ONNX) or ``WHILE``/``IF`` (TFLite) runs a path chosen by its
data: timed on made-up inputs, it may time a branch no user takes (a voice-activity model whose
``If`` picks 8 kHz or 16 kHz code by an integer ``sr`` input ran at 0.057 ms on sr uniform in
[0, 100)). ``find`` lists each such node and the model inputs it depends on, so a run on generated
data for those inputs can say so by name.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

ONNX_OPS = {"If", "Loop", "Scan"}
TFLITE_OPS = {"WHILE", "IF"}


def find(path: str | Path, fmt: str) -> list[dict[str, Any]]:
    """``[{"node": name, "op": op, "depends_on": [model input names]}]``; empty for other formats
    or when the file cannot be read this way (the run itself will say what is wrong with it)."""
    try:
        if fmt == "onnx":
            return _onnx(Path(path))
        if fmt == "tflite":
            return _tflite(Path(path))
    except Exception:  # a helper for a warning must never fail a run
        return []
    return []


def _subgraph_outer_refs(node: Any) -> set[str]:
    """Names a node's subgraphs (If branches, Loop/Scan bodies) read from the enclosing scope."""
    import onnx

    refs: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else (
            list(attr.graphs) if attr.type == onnx.AttributeProto.GRAPHS else [])
        for g in graphs:
            local = {i.name for i in g.input} | {i.name for i in g.initializer}
            for n in g.node:
                local.update(n.output)
            for n in g.node:
                refs.update(x for x in n.input if x and x not in local)
                refs.update(r for r in _subgraph_outer_refs(n) if r not in local)
    return refs


def _deciding_values(node: Any) -> list[str]:
    """The values that choose the path: an If's condition; a Loop's trip count and condition (and,
    when its body computes the next condition from data, everything it reads); a Scan's inputs."""
    everything = [x for x in node.input if x] + sorted(_subgraph_outer_refs(node))
    if node.op_type == "If":
        return [node.input[0]]
    if node.op_type == "Loop":
        body = next(a.g for a in node.attribute if a.name == "body")
        producer = {out: n for n in body.node for out in n.output}
        cond_in = body.input[1].name if len(body.input) > 1 else None
        sources = {i.name for i in body.input} | _subgraph_outer_refs(node)
        reached = _upstream_inputs([body.output[0].name], producer, sources,
                                   lambda n: [x for x in n.input if x])
        if reached <= {cond_in}:
            return [x for x in node.input[:2] if x]
    return everything


def _onnx(path: Path) -> list[dict[str, Any]]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    initializers = {i.name for i in graph.initializer}
    model_inputs = [i.name for i in graph.input if i.name not in initializers]
    producer = {out: n for n in graph.node for out in n.output}
    found = []
    for i, node in enumerate(graph.node):
        if node.op_type not in ONNX_OPS:
            continue
        roots = _deciding_values(node)
        deps = _upstream_inputs(roots, producer, set(model_inputs),
                                lambda n: [x for x in n.input if x] + sorted(_subgraph_outer_refs(n)))
        found.append({"node": node.name or f"{node.op_type}_{i}", "op": node.op_type,
                      "depends_on": [m for m in model_inputs if m in deps]})
    return found


def _upstream_inputs(roots: Iterable[str], producer: dict[str, Any], model_inputs: set[str],
                     inputs_of: Any) -> set[str]:
    """Model inputs reachable backwards from ``roots`` through the producers of each value."""
    seen: set[str] = set()
    stack = list(roots)
    hits: set[str] = set()
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in model_inputs:
            hits.add(name)
        node = producer.get(name)
        if node is not None:
            stack.extend(inputs_of(node))
    return hits


def _tflite(path: Path) -> list[dict[str, Any]]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        return []
    interp = Interpreter(model_path=str(path))
    ops = interp._get_ops_details()  # the main subgraph's operators with tensor indices
    inputs = {d["index"]: d["name"] for d in interp.get_input_details()}
    producer = {}
    for op in ops:
        for t in op.get("outputs", []):
            producer[int(t)] = op
    found = []
    for op in ops:
        if str(op.get("op_name", "")).upper() not in TFLITE_OPS:
            continue
        deps = _upstream_inputs([int(t) for t in op.get("inputs", []) if int(t) >= 0], producer, set(inputs),
                                lambda o: [int(t) for t in o.get("inputs", []) if int(t) >= 0])
        found.append({"node": f"{op['op_name']}#{op['index']}", "op": str(op["op_name"]).upper(),
                      "depends_on": [inputs[i] for i in sorted(deps)]})
    return found


def warning(found: list[dict[str, Any]], generated: set[str]) -> str | None:
    """The warning for control-flow nodes that depend on generated inputs, or None."""
    hits = [f for f in found if set(f["depends_on"]) & generated]
    if not hits:
        return None
    nodes = ", ".join(f"{f['op']} node {f['node']!r} (on {', '.join(sorted(set(f['depends_on']) & generated))})"
                      for f in hits[:5]) + (f" and {len(hits) - 5} more" if len(hits) > 5 else "")
    names = sorted({n for f in hits for n in f["depends_on"]} & generated)
    return (f"data-dependent control flow on generated inputs: {nodes}; the timed path may be one no user "
            f"takes. Fix the inputs with --input {names[0]}=VALUE (or 'inputs:' in the suite) or a --calib "
            "folder of real samples")
