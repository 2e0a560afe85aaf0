"""Tiny stage models for pipeline tests, written with onnx.helper: outputs known in closed form.

encoder: features = 2·audio                      [1, 8]
denoiser: latent_out = latent + step_add + 0·cond + timestep_gain·timestep
decoder: media = 3·latent
``pad_bytes`` adds a large initializer read through a cheap Gather (a model of known size).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WIDTH = 8


def _save(path: Path, nodes: list, inputs: list, outputs: list, inits: list) -> Path:
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, path.stem, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _pad(name: str, pad_bytes: int, x: str, out: str) -> tuple[list, list]:
    """out = x + table[i], i = int(0·sum(x)) = 0: the index depends on the input, so no runtime can
    fold the ``pad_bytes`` table away at load; it stays resident while the stage is loaded."""
    from onnx import helper, numpy_helper

    if not pad_bytes:
        return [helper.make_node("Identity", [x], [out], name=f"{name}/identity")], []
    rows = max(1, pad_bytes // (4 * WIDTH))
    table = np.random.default_rng(rows).standard_normal((rows, WIDTH)).astype(np.float32) * 1e-3
    table[0] = 0.0
    inits = [numpy_helper.from_array(table, f"{name}_table"),
             numpy_helper.from_array(np.asarray(0.0, np.float32), f"{name}_nil")]
    nodes = [helper.make_node("ReduceSum", [x], [f"{name}_sum"], name=f"{name}/sum", keepdims=0),
             helper.make_node("Mul", [f"{name}_sum", f"{name}_nil"], [f"{name}_zero"], name=f"{name}/zero"),
             helper.make_node("Cast", [f"{name}_zero"], [f"{name}_idx"], name=f"{name}/idx", to=7),
             helper.make_node("Gather", [f"{name}_table", f"{name}_idx"], [f"{name}_row"], name=f"{name}/gather",
                              axis=0),
             helper.make_node("Add", [x, f"{name}_row"], [out], name=f"{name}/pad_add")]
    return nodes, inits


def build_encoder(path: Path, pad_bytes: int = 0) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = _pad("encoder", pad_bytes, "scaled", "features")
    nodes.insert(0, helper.make_node("Mul", ["audio", "two"], ["scaled"], name="encoder/scale"))
    inits.append(numpy_helper.from_array(np.asarray(2.0, np.float32), "two"))
    return _save(path, nodes, [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, WIDTH])],
                 [helper.make_tensor_value_info("features", TensorProto.FLOAT, [1, WIDTH])], inits)


def build_denoiser(path: Path, step_add: float = 0.5, timestep_gain: float = 0.0, pad_bytes: int = 0,
                   cond_width: int = WIDTH) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    f = TensorProto.FLOAT
    inits = [numpy_helper.from_array(np.asarray(step_add, np.float32), "step_add"),
             numpy_helper.from_array(np.asarray(timestep_gain, np.float32), "t_gain"),
             numpy_helper.from_array(np.asarray(0.0, np.float32), "zero")]
    nodes = [
        helper.make_node("ReduceSum", ["cond"], ["cond_sum"], name="denoiser/cond_sum", keepdims=1),
        helper.make_node("Mul", ["cond_sum", "zero"], ["cond_zero"], name="denoiser/cond_zero"),
        helper.make_node("Mul", ["timestep", "t_gain"], ["t_term"], name="denoiser/t_term"),
        helper.make_node("Add", ["latent", "step_add"], ["a1"], name="denoiser/add_step"),
        helper.make_node("Add", ["a1", "cond_zero"], ["a2"], name="denoiser/add_cond"),
        helper.make_node("Add", ["a2", "t_term"], ["a3"], name="denoiser/add_t"),
    ]
    pad_nodes, pad_inits = _pad("denoiser", pad_bytes, "a3", "latent_out")
    return _save(path, nodes + pad_nodes,
                 [helper.make_tensor_value_info("latent", f, [1, WIDTH]),
                  helper.make_tensor_value_info("cond", f, [1, cond_width]),
                  helper.make_tensor_value_info("timestep", f, [1])],
                 [helper.make_tensor_value_info("latent_out", f, [1, WIDTH])], inits + pad_inits)


def build_decoder(path: Path, pad_bytes: int = 0) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = _pad("decoder", pad_bytes, "scaled", "media")
    nodes.insert(0, helper.make_node("Mul", ["latent", "three"], ["scaled"], name="decoder/scale"))
    inits.append(numpy_helper.from_array(np.asarray(3.0, np.float32), "three"))
    return _save(path, nodes, [helper.make_tensor_value_info("latent", TensorProto.FLOAT, [1, WIDTH])],
                 [helper.make_tensor_value_info("media", TensorProto.FLOAT, [1, WIDTH])], inits)


def build_three(folder: Path, pad_bytes: int = 0, **denoiser: float) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {"encoder": build_encoder(folder / "enc.onnx", pad_bytes),
            "denoiser": build_denoiser(folder / "den.onnx", pad_bytes=pad_bytes, **denoiser),
            "decoder": build_decoder(folder / "dec.onnx", pad_bytes)}


def pipeline_entry(files: dict[str, Path], **extra: object) -> dict[str, object]:
    """The issue's example pipeline over the three files."""
    return {
        "name": "my-gen",
        "media_seconds": 2.0,
        "steps": [2, 3],
        "chunks": 1,
        "stages": [
            {"name": "encoder", "model": str(files["encoder"]), "repeat": "once"},
            {"name": "denoiser", "model": str(files["denoiser"]), "repeat": "per_step",
             "carry": {"latent_out": "latent"}},
            {"name": "decoder", "model": str(files["decoder"]), "repeat": "per_chunk"},
        ],
        "wiring": {"denoiser.cond": "encoder.features", "decoder.latent": "denoiser.latent_out"},
        **extra,
    }
