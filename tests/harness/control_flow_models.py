"""Small ONNX models with data-dependent control flow, built in the tests (onnx.helper)."""

from __future__ import annotations

from pathlib import Path


def if_on_sample_rate(path: Path) -> Path:
    """y = x * 2 when sr == 16000, else x + 1: an ``If`` picked by an int64 scalar input ``sr``, as in a
    voice-activity model that runs 8 kHz or 16 kHz code."""
    import onnx
    from onnx import TensorProto, helper

    then_g = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y_then"])], "then", [],
                               [helper.make_tensor_value_info("y_then", TensorProto.FLOAT, [1, 4])],
                               [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])])
    else_g = helper.make_graph([helper.make_node("Add", ["x", "one"], ["y_else"])], "else", [],
                               [helper.make_tensor_value_info("y_else", TensorProto.FLOAT, [1, 4])],
                               [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])])
    nodes = [
        helper.make_node("Equal", ["sr", "sr16k"], ["is16k"], name="sr_check"),
        helper.make_node("If", ["is16k"], ["y"], then_branch=then_g, else_branch=else_g, name="pick_rate"),
    ]
    graph = helper.make_graph(
        nodes, "if_sr",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor("sr16k", TensorProto.INT64, [], [16000])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def loop_on_count(path: Path) -> Path:
    """A ``Loop`` whose trip count is the int64 input ``n``: y = x + n (one add per iteration)."""
    import onnx
    from onnx import TensorProto, helper

    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Add", ["acc_in", "one"], ["acc_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor("one", TensorProto.FLOAT, [], [1.0])],
    )
    graph = helper.make_graph(
        [helper.make_node("Loop", ["n", "true", "x"], ["y"], body=body, name="repeat")], "loop_n",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4]),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor("true", TensorProto.BOOL, [], [True])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


WHILE_TFLITE = Path(__file__).resolve().parent / "data" / "while_loop.tflite"


def tflite_while_loop(path: Path) -> Path:
    """How ``data/while_loop.tflite`` was made (TensorFlow's converter, ~1 min on a 2-core VM, so the
    2 KB result is kept in the tree): y = x + n by a ``tf.while_loop`` over the int32 input ``n``,
    which the converter writes as a TFLite ``WHILE`` op."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32), tf.TensorSpec([], tf.int32)])
    def f(x, n):
        def cond(i, acc):
            return i < n

        def body(i, acc):
            return i + 1, acc + 1.0

        return tf.while_loop(cond, body, [tf.constant(0), x])[1]

    converter = tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f)
    path.write_bytes(converter.convert())
    return path
