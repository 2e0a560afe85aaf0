"""A small ONNX graph builder for the zoo: seeded weights, module-prefixed node names, the blocks
generative audio/video models are made of (attention, LayerNorm, GELU, convolutions).

Every node is named ``<module>/<block>/<op>`` so quantization error and cost can be attributed to
a module by name; a node's single output tensor carries the node's name plus ``:0``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
# onnxruntime 1.17+ reads IR 9; newer onnx writes a higher IR by default, which older runtimes refuse.
IR_VERSION = 9


class GraphBuilder:
    """Accumulates nodes and initializers; weights come from one seeded generator, in call order,
    so the same build sequence gives the same bytes."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._prefix: list[str] = []
        self._used: set[str] = set()

    # -- naming -------------------------------------------------------------------------------
    @contextmanager
    def scope(self, name: str) -> Iterator[None]:
        self._prefix.append(name)
        try:
            yield
        finally:
            self._prefix.pop()

    def _full(self, name: str) -> str:
        full = "/".join([*self._prefix, name])
        if full in self._used:
            raise ValueError(f"duplicate node/initializer name {full!r} in zoo graph")
        self._used.add(full)
        return full

    # -- tensors ------------------------------------------------------------------------------
    def const(self, name: str, value: np.ndarray) -> str:
        full = self._full(name)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), full))
        return full

    def weight(self, name: str, shape: Sequence[int], fan_in: int, gain: float = 1.0) -> str:
        # He/Glorot-like scale keeps activations O(1) through the stack.
        w = self.rng.standard_normal(tuple(shape)).astype(np.float32) * np.float32(gain / math.sqrt(fan_in))
        return self.const(name, w)

    def op(self, op_type: str, inputs: Sequence[str], name: str, **attrs: object) -> str:
        full = self._full(name)
        out = f"{full}:0"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], name=full, **attrs))
        return out

    def shape_const(self, name: str, shape: Sequence[int]) -> str:
        return self.const(name, np.asarray(shape, dtype=np.int64))

    def reshape(self, x: str, shape: Sequence[int], name: str) -> str:
        return self.op("Reshape", [x, self.shape_const(f"{name}/shape", shape)], name)

    def transpose(self, x: str, perm: Sequence[int], name: str) -> str:
        return self.op("Transpose", [x], name, perm=list(perm))

    def scale(self, x: str, factor: float, name: str) -> str:
        return self.op("Mul", [x, self.const(f"{name}/factor", np.asarray(factor, np.float32))], name)

    # -- blocks -------------------------------------------------------------------------------
    def linear(
        self,
        x: str,
        d_in: int,
        d_out: int,
        name: str,
        gain: float = 1.0,
        in_scale: np.ndarray | None = None,
    ) -> str:
        """x[..., d_in] @ W[d_in, d_out] + b. ``in_scale`` divides W's rows: the layer that reads an
        activation with outlier channels compensates for them, as trained models do."""
        w = self.rng.standard_normal((d_in, d_out)).astype(np.float32) * np.float32(gain / math.sqrt(d_in))
        if in_scale is not None:
            w = w / in_scale.astype(np.float32)[:, None]
        b = (self.rng.standard_normal(d_out) * 0.02).astype(np.float32)
        with self.scope(name):
            y = self.op("MatMul", [x, self.const("weight", w)], "MatMul")
            return self.op("Add", [y, self.const("bias", b)], "Add")

    def layer_norm(self, x: str, dim: int, name: str, outliers: dict[int, float] | None = None) -> str:
        """LayerNorm over the last axis; ``outliers`` maps channel -> gain (20-100x) to model the
        outlier features of trained transformers."""
        gamma = (1.0 + 0.1 * self.rng.standard_normal(dim)).astype(np.float32)
        beta = (0.05 * self.rng.standard_normal(dim)).astype(np.float32)
        for ch, g in (outliers or {}).items():
            gamma[ch] = g  # exactly g times the unit gain of the other channels
        with self.scope(name):
            return self.op(
                "LayerNormalization",
                [x, self.const("gamma", gamma), self.const("beta", beta)],
                "LayerNormalization",
                axis=-1,
                epsilon=1e-5,
            )

    def gelu(self, x: str, name: str) -> str:
        """Exact GELU, 0.5·x·(1 + erf(x/√2)), spelled out because opset 17 has no Gelu op."""
        with self.scope(name):
            t = self.scale(x, 1.0 / math.sqrt(2.0), "Div")
            t = self.op("Erf", [t], "Erf")
            t = self.op("Add", [t, self.const("one", np.asarray(1.0, np.float32))], "Add")
            t = self.op("Mul", [x, t], "Mul")
            return self.scale(t, 0.5, "Half")

    def attention(
        self,
        xq: str,
        xkv: str,
        dim: int,
        heads: int,
        batch: int,
        n_q: int,
        n_kv: int,
        name: str,
        d_kv: int | None = None,
        q_in_scale: np.ndarray | None = None,
        kv_in_scale: np.ndarray | None = None,
    ) -> str:
        """Multi-head softmax attention; self-attention when xq is xkv."""
        dh = dim // heads
        d_kv = d_kv or dim
        with self.scope(name):
            q = self.linear(xq, dim, dim, "q", in_scale=q_in_scale)
            k = self.linear(xkv, d_kv, dim, "k", in_scale=kv_in_scale)
            v = self.linear(xkv, d_kv, dim, "v", in_scale=kv_in_scale)
            q = self.transpose(self.reshape(q, [batch, n_q, heads, dh], "q_split"), [0, 2, 1, 3], "q_heads")
            k = self.transpose(self.reshape(k, [batch, n_kv, heads, dh], "k_split"), [0, 2, 3, 1], "k_heads")
            v = self.transpose(self.reshape(v, [batch, n_kv, heads, dh], "v_split"), [0, 2, 1, 3], "v_heads")
            s = self.op("MatMul", [q, k], "scores")
            s = self.scale(s, 1.0 / math.sqrt(dh), "scale")
            p = self.op("Softmax", [s], "Softmax", axis=-1)
            c = self.op("MatMul", [p, v], "context")
            c = self.reshape(self.transpose(c, [0, 2, 1, 3], "merge_heads"), [batch, n_q, dim], "merge")
            return self.linear(c, dim, dim, "out", gain=0.5)

    def mlp(self, x: str, dim: int, hidden: int, name: str, in_scale: np.ndarray | None = None) -> str:
        with self.scope(name):
            h = self.linear(x, dim, hidden, "fc1", in_scale=in_scale)
            h = self.gelu(h, "gelu")
            return self.linear(h, hidden, dim, "fc2", gain=0.5)

    def transformer_layer(
        self,
        x: str,
        dim: int,
        heads: int,
        batch: int,
        n: int,
        name: str,
        context: str | None = None,
        n_ctx: int = 0,
        d_ctx: int | None = None,
        outliers: dict[int, float] | None = None,
    ) -> str:
        """Pre-LN block: x + SelfAttn(LN x) [+ CrossAttn(LN x, context)] + MLP(LN x)."""
        comp = _compensation(dim, outliers)
        with self.scope(name):
            h = self.layer_norm(x, dim, "ln1", outliers)
            x = self.op("Add", [x, self.attention(h, h, dim, heads, batch, n, n, "attn", q_in_scale=comp,
                                                  kv_in_scale=comp)], "attn_residual")
            if context is not None:
                h = self.layer_norm(x, dim, "ln_cross")
                a = self.attention(h, context, dim, heads, batch, n, n_ctx, "cross_attn", d_kv=d_ctx)
                x = self.op("Add", [x, a], "cross_residual")
            h = self.layer_norm(x, dim, "ln2", outliers)
            return self.op("Add", [x, self.mlp(h, dim, 4 * dim, "mlp", in_scale=comp)], "mlp_residual")

    def conv(
        self,
        x: str,
        c_in: int,
        c_out: int,
        kernel: Sequence[int],
        name: str,
        stride: int = 1,
        pad: int | None = None,
        gain: float = 1.0,
    ) -> str:
        """Conv1d/Conv2d (by len(kernel)) with bias; 'same' padding unless given."""
        k = list(kernel)
        p = (k[0] // 2) if pad is None else pad
        fan_in = c_in * int(np.prod(k))
        with self.scope(name):
            w = self.weight("weight", [c_out, c_in, *k], fan_in, gain)
            b = self.const("bias", (self.rng.standard_normal(c_out) * 0.02).astype(np.float32))
            return self.op(
                "Conv", [x, w, b], "Conv", kernel_shape=k, strides=[stride] * len(k), pads=[p] * (2 * len(k))
            )

    def conv_transpose(
        self, x: str, c_in: int, c_out: int, kernel: Sequence[int], stride: int, pad: int, name: str, gain: float = 1.0
    ) -> str:
        k = list(kernel)
        # fan-in of a transposed conv: the input channels times the kernel taps that overlap each output.
        fan_in = c_in * int(np.prod([max(1, kk // stride) for kk in k]))
        with self.scope(name):
            w = self.weight("weight", [c_in, c_out, *k], fan_in, gain)
            b = self.const("bias", (self.rng.standard_normal(c_out) * 0.02).astype(np.float32))
            return self.op(
                "ConvTranspose", [x, w, b], "ConvTranspose", kernel_shape=k, strides=[stride] * len(k),
                pads=[pad] * (2 * len(k)),
            )

    def timestep_embedding(self, t: str, dim: int, out_dim: int, name: str) -> str:
        """Sinusoidal embedding of a [1] timestep followed by an MLP -> [1, out_dim]."""
        half = dim // 2
        freqs = np.exp(-math.log(10000.0) * np.arange(half, dtype=np.float32) / half).astype(np.float32)
        with self.scope(name):
            tt = self.reshape(t, [1, 1], "as_column")
            arg = self.op("Mul", [tt, self.const("freqs", freqs[None, :])], "phase")
            emb = self.op("Concat", [self.op("Sin", [arg], "Sin"), self.op("Cos", [arg], "Cos")], "Concat", axis=-1)
            h = self.gelu(self.linear(emb, dim, out_dim, "fc1"), "gelu")
            return self.linear(h, out_dim, out_dim, "fc2")

    # -- model --------------------------------------------------------------------------------
    def model(
        self,
        name: str,
        inputs: Sequence[tuple[str, int, Sequence[int]]],
        outputs: Sequence[tuple[str, str, Sequence[int]]],
        doc: str,
    ) -> onnx.ModelProto:
        """``inputs``: (name, onnx elem type, shape); ``outputs``: (graph name, tensor, shape).
        Graph outputs get their public names through Identity nodes named ``<module>/output``."""
        nodes = list(self.nodes)
        out_infos = []
        for out_name, tensor, shape in outputs:
            module = tensor.split("/", 1)[0]
            nodes.append(helper.make_node("Identity", [tensor], [out_name], name=f"{module}/output/{out_name}"))
            out_infos.append(helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(shape)))
        graph = helper.make_graph(
            nodes,
            name,
            [helper.make_tensor_value_info(n, t, list(s)) for n, t, s in inputs],
            out_infos,
            self.initializers,
            doc_string=doc,
        )
        model = helper.make_model(
            graph,
            opset_imports=[helper.make_opsetid("", OPSET)],
            ir_version=IR_VERSION,
            producer_name="edgebench.zoo",
            producer_version="1",
            doc_string=doc,
        )
        onnx.checker.check_model(model)
        return model


def _compensation(dim: int, outliers: dict[int, float] | None) -> np.ndarray | None:
    if not outliers:
        return None
    s = np.ones(dim, np.float32)
    for ch, g in outliers.items():
        s[ch] = g
    return s
