"""foley: a small proxy of video-to-audio generation (HunyuanVideo-Foley-like).

frames [2, 3, 224, 224] ──video_encoder (ViT, patch 16, 2 layers)──▶ video tokens [1, 392, 192]
tokens [1, 32] int64    ──text_encoder (embedding + 2 layers)──────▶ text tokens [1, 32, 192]
audio_latent [1, 32, 64] + timestep [1]
    ──audio_decoder (2 adaLN diffusion-transformer blocks, cross-attention to video+text)──▶ denoised latent
    ──upsampler (conv + four ×4 transposed convolutions, tanh carrier × exp envelope)──▶ waveform [1, 16384]

The audio decoder's residual stream carries outlier channels (20-100x) through its LayerNorms; the
upsampler's output stage multiplies a carrier by an exponential envelope spanning ~40 dB, the kind
of wide-dynamic-range output per-tensor int8 handles worst.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from backends.base import TensorSpec
from harness.zoo import _signals
from harness.zoo._graph import GraphBuilder
from harness.zoo._model import ZooModel

NAME = "foley"
SEED = 20240719
N_FRAMES, IMG, PATCH = 2, 224, 16
D_VIS, HEADS_VIS = 192, 3
N_TEXT, VOCAB = 32, 1000
LAT_C, LAT_T = 32, 64
D_DIT, HEADS_DIT = 256, 4
HOP = 256  # waveform samples per latent frame: four ×4 upsampling stages
# envelope = exp(SPAN·tanh(GAIN·conv(latent) + OFFSET)): up to ±SPAN·8.7 dB, mostly quiet.
ENVELOPE_SPAN, ENVELOPE_GAIN, ENVELOPE_OFFSET = 3.5, 1.5, -1.5
# Outlier channels of the audio decoder's LayerNorms (channel: gain), compensated by the layers
# that read them, as in trained diffusion transformers.
DIT_OUTLIERS = {17: 20.0, 101: 40.0, 230: 100.0}
OUTLIER_SITES = ("ln1",)

INPUTS = [
    TensorSpec("frames", (N_FRAMES, 3, IMG, IMG), "float32", "NCHW"),
    TensorSpec("tokens", (1, N_TEXT), "int64"),
    TensorSpec("audio_latent", (1, LAT_C, LAT_T), "float32"),
    TensorSpec("timestep", (1,), "float32"),
]


def _dit_block(b: GraphBuilder, x: str, temb: str, cond: str, n_cond: int, name: str) -> str:
    """adaLN-modulated self-attention, cross-attention to the conditioning, MLP."""
    comp = np.ones(D_DIT, np.float32)
    for ch, g in DIT_OUTLIERS.items():
        comp[ch] = g
    o1, o2 = (DIT_OUTLIERS if site in OUTLIER_SITES else None for site in ("ln1", "ln2"))
    c1, c2 = (comp if o else None for o in (o1, o2))
    with b.scope(name):
        mod = b.linear(temb, D_DIT, 2 * D_DIT, "adaln", gain=0.1)
        mod = b.reshape(mod, [1, 2, D_DIT], "adaln_split")
        scale = b.op("Gather", [mod, b.const("idx_scale", np.asarray(0, np.int64))], "scale", axis=1)
        shift = b.op("Gather", [mod, b.const("idx_shift", np.asarray(1, np.int64))], "shift", axis=1)
        h = b.layer_norm(x, D_DIT, "ln1", o1)
        h = b.op("Add", [h, b.op("Mul", [h, scale], "modulate_scale")], "modulate")
        h = b.op("Add", [h, b.reshape(shift, [1, 1, D_DIT], "shift_bcast")], "modulate_shift")
        a = b.attention(h, h, D_DIT, HEADS_DIT, 1, LAT_T, LAT_T, "attn", q_in_scale=c1, kv_in_scale=c1)
        x = b.op("Add", [x, a], "attn_residual")
        h = b.layer_norm(x, D_DIT, "ln_cross")
        a = b.attention(h, cond, D_DIT, HEADS_DIT, 1, LAT_T, n_cond, "cross_attn", d_kv=D_VIS)
        x = b.op("Add", [x, a], "cross_residual")
        h = b.layer_norm(x, D_DIT, "ln2", o2)
        return b.op("Add", [x, b.mlp(h, D_DIT, 4 * D_DIT, "mlp", in_scale=c2)], "mlp_residual")


def build() -> onnx.ModelProto:
    b = GraphBuilder(SEED)
    n_patch = (IMG // PATCH) ** 2
    with b.scope("video_encoder"):
        h = b.conv("frames", 3, D_VIS, [PATCH, PATCH], "patch_embed", stride=PATCH, pad=0)
        h = b.transpose(b.reshape(h, [N_FRAMES, D_VIS, n_patch], "flatten"), [0, 2, 1], "to_tokens")
        pos = (0.02 * b.rng.standard_normal((1, n_patch, D_VIS))).astype(np.float32)
        h = b.op("Add", [h, b.const("positions", pos)], "add_positions")
        for i in range(2):
            h = b.transformer_layer(h, D_VIS, HEADS_VIS, N_FRAMES, n_patch, f"layer{i}")
        h = b.layer_norm(h, D_VIS, "ln_out")
        video = b.reshape(h, [1, N_FRAMES * n_patch, D_VIS], "merge_frames")

    with b.scope("text_encoder"):
        table = (b.rng.standard_normal((VOCAB, D_VIS)) * 0.5).astype(np.float32)
        h = b.op("Gather", [b.const("embedding", table), "tokens"], "embed", axis=0)
        pos = (0.02 * b.rng.standard_normal((1, N_TEXT, D_VIS))).astype(np.float32)
        h = b.op("Add", [h, b.const("positions", pos)], "add_positions")
        for i in range(2):
            h = b.transformer_layer(h, D_VIS, HEADS_VIS, 1, N_TEXT, f"layer{i}")
        text = b.layer_norm(h, D_VIS, "ln_out")

    with b.scope("audio_decoder"):
        cond = b.op("Concat", [video, text], "condition", axis=1)
        n_cond = N_FRAMES * n_patch + N_TEXT
        temb = b.timestep_embedding("timestep", 128, D_DIT, "time_embed")
        x = b.linear(b.transpose("audio_latent", [0, 2, 1], "to_tokens"), LAT_C, D_DIT, "in_proj")
        for i in range(2):
            x = _dit_block(b, x, temb, cond, n_cond, f"block{i}")
        x = b.linear(b.layer_norm(x, D_DIT, "ln_out"), D_DIT, LAT_C, "out_proj", gain=0.5)
        eps = b.transpose(x, [0, 2, 1], "to_channels")
        latent = b.op("Sub", ["audio_latent", b.scale(eps, 0.5, "step_size")], "step")

    wave = _upsampler(b, latent)

    return b.model(
        NAME,
        [
            ("frames", TensorProto.FLOAT, INPUTS[0].shape),
            ("tokens", TensorProto.INT64, INPUTS[1].shape),
            ("audio_latent", TensorProto.FLOAT, INPUTS[2].shape),
            ("timestep", TensorProto.FLOAT, INPUTS[3].shape),
        ],
        [("waveform", wave, (1, LAT_T * HOP))],
        __doc__.strip().splitlines()[0],
    )


def _upsampler(b: GraphBuilder, latent: str) -> str:
    """Latent -> waveform (same graph and random stream order as when it was inline in ``build``)."""
    with b.scope("upsampler"):
        h = b.gelu(b.conv(latent, LAT_C, 128, [7], "conv_in"), "gelu_in")
        channels = [128, 64, 32, 16, 8]
        for i in range(4):  # each stage: length ×4
            h = b.conv_transpose(h, channels[i], channels[i + 1], [8], 4, 2, f"up{i}")
            h = b.gelu(h, f"gelu{i}")
        # Output stage: a slow log-gain envelope from the latent, upsampled to the waveform rate and
        # exponentiated, scales the last features before the output convolution. Mostly quiet with
        # loud events (impacts, footsteps), the features entering that convolution span ~60 dB.
        g = b.conv(latent, LAT_C, 1, [3], "envelope/conv", gain=ENVELOPE_GAIN)
        offset = b.const("envelope/offset_value", np.asarray(ENVELOPE_OFFSET, np.float32))
        g = b.op("Add", [g, offset], "envelope/offset")
        g = b.op("Tanh", [g], "envelope/tanh")
        g = b.op(
            "Resize",
            [g, "", b.const("envelope/scales", np.array([1.0, 1.0, float(HOP)], np.float32))],
            "envelope/resize",
            mode="linear",
        )
        env = b.op("Exp", [b.scale(g, ENVELOPE_SPAN, "envelope/span")], "envelope/exp")
        h = b.op("Mul", [h, env], "output_stage/gain")
        wave = b.conv(h, channels[-1], 1, [7], "output_stage/conv", gain=0.5)
        wave = b.reshape(wave, [1, LAT_T * HOP], "to_waveform")
    return wave


def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
    latent, t = _signals.noisy_latent(rng, (1, LAT_C, LAT_T), smooth_axes=1)
    return {
        "frames": _signals.natural_frames(rng, N_FRAMES, IMG),
        "tokens": _signals.token_ids(rng, N_TEXT, VOCAB),
        "audio_latent": latent,
        "timestep": t,
    }


MODEL = ZooModel(
    name=NAME,
    description="video-to-audio Foley proxy: ViT video encoder (2x224x224 frames), text encoder, "
    "diffusion-transformer audio decoder, transposed-conv upsampler to a 16384-sample waveform",
    output_kinds={"waveform": "audio"},
    modules=["video_encoder", "text_encoder", "audio_decoder", "upsampler"],
    inputs=INPUTS,
    module_outputs={
        "video_encoder": "video_encoder/merge_frames:0",
        "text_encoder": "text_encoder/ln_out/LayerNormalization:0",
        "audio_decoder": "audio_decoder/step:0",
        "upsampler": "upsampler/to_waveform:0",
    },
    _builder=build,
    _sampler=sample,
)
