"""Builders for tiny ONNX models shaped like the evaluators edgebench runs (named as fakes).

The real SyncNet and DNSMOS weights are the user's to supply; these fakes have the right
signatures and simple, known arithmetic so tests can compute the expected scores by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


def _ort_available() -> str | None:
    try:
        import backends

        if "onnxruntime" not in backends.names():
            return "backends/onnxruntime.py is not there yet"
        if not backends.get_backend("onnxruntime").probe().available:
            return "onnxruntime is not installed"
    except Exception as exc:  # a broken adapter is its own test's business
        return f"onnxruntime adapter unusable: {exc}"
    return None


needs_ort = pytest.mark.skipif(_ort_available() is not None, reason=str(_ort_available()))


def build_fake_syncnet(path: Path, w_audio: np.ndarray, w_video: np.ndarray, *, names=("audio_emb", "lip_emb"),
                       video_hw=(224, 224), audio_shape=(1, 13, 20), batch="N") -> Path:
    """FAKE SyncNet: audio [N,1,13,20] -> flatten @ w_audio; video [N,3,5,H,W] -> mean over H,W -> flatten @ w_video."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dim = w_audio.shape[1]
    audio = helper.make_tensor_value_info("audio", TensorProto.FLOAT, [batch, *audio_shape])
    video = helper.make_tensor_value_info("video", TensorProto.FLOAT, [batch, 3, 5, *video_hw])
    out_a = helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [batch, dim])
    out_v = helper.make_tensor_value_info(names[1], TensorProto.FLOAT, [batch, dim])
    axes = numpy_helper.from_array(np.array([3, 4], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("Flatten", ["audio"], ["a_flat"], axis=1),
        helper.make_node("MatMul", ["a_flat", "w_audio"], [names[0]]),
        helper.make_node("ReduceMean", ["video", "axes"], ["v_mean"], keepdims=0),
        helper.make_node("Flatten", ["v_mean"], ["v_flat"], axis=1),
        helper.make_node("MatMul", ["v_flat", "w_video"], [names[1]]),
    ]
    graph = helper.make_graph(
        nodes, "fake_syncnet", [audio, video], [out_a, out_v],
        initializer=[numpy_helper.from_array(w_audio.astype(np.float32), "w_audio"),
                     numpy_helper.from_array(w_video.astype(np.float32), "w_video"), axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def build_fake_dnsmos(path: Path, input_name: str = "input_1", length: int = 144160) -> Path:
    """FAKE sig_bak_ovr.onnx: input_1 [1, 144160] -> [1, 3] = [mean(x)+3, max(x)+3, min(x)+3]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, length])
    y = helper.make_tensor_value_info("Identity:0", TensorProto.FLOAT, [1, 3])
    axes = numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")
    three = numpy_helper.from_array(np.array([3.0], dtype=np.float32), "three")
    nodes = [
        helper.make_node("ReduceMean", [input_name, "axes"], ["m"], keepdims=1),
        helper.make_node("ReduceMax", [input_name, "axes"], ["hi"], keepdims=1),
        helper.make_node("ReduceMin", [input_name, "axes"], ["lo"], keepdims=1),
        helper.make_node("Concat", ["m", "hi", "lo"], ["raw"], axis=1),
        helper.make_node("Add", ["raw", "three"], ["Identity:0"]),
    ]
    graph = helper.make_graph(nodes, "fake_dnsmos", [x], [y], initializer=[axes, three])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.save(model, path)
    return path


def syncnet_weights(dim: int = 1024, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((260, dim)) * 0.01, rng.standard_normal((15, dim)) * 0.01


def write_mp4(path, frames, fps: int) -> None:
    av = pytest.importorskip("av", reason="PyAV (the quality extra) reads video files")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"qscale": "1"}
        for f in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="bgr24")))
        out.mux(stream.encode(None))
