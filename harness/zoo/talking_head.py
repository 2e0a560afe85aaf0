"""talking-head: a small proxy of speech-driven portrait animation (Sonic-like).

mel [1, 80, 200] (2 s of log-mel) ──audio_encoder──▶ audio features [1, 100, 256]
latent [1, 8, 32, 32] (2 frames × 4 latent channels, noised) + timestep [1]
    ──denoiser (one diffusion step: UNet with timestep embedding and cross-attention to the audio)──▶
    denoised latent ──frame_decoder──▶ frames [1, 2, 3, 128, 128] in [0, 1]

The audio encoder is conv1d + two transformer layers; the denoiser carries a few outlier channels
(20-50x) in its attention block's LayerNorms, as trained diffusion transformers do.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto

from backends.base import TensorSpec
from harness.zoo import _signals
from harness.zoo._graph import GraphBuilder
from harness.zoo._model import ZooModel

NAME = "talking-head"
SEED = 20240611
N_MELS, N_FRAMES_MEL = 80, 200
LATENT = (1, 8, 32, 32)
N_VIDEO_FRAMES, IMG = 2, 128
D_AUDIO, HEADS_AUDIO = 256, 4
D_UNET = 128

INPUTS = [
    TensorSpec("mel", (1, N_MELS, N_FRAMES_MEL), "float32"),
    TensorSpec("latent", LATENT, "float32"),
    TensorSpec("timestep", (1,), "float32"),
]


def _sinusoid_positions(n: int, dim: int) -> np.ndarray:
    pos = np.arange(n)[:, None]
    i = np.arange(dim // 2)[None, :]
    ang = pos / (10000 ** (2 * i / dim))
    return np.concatenate([np.sin(ang), np.cos(ang)], axis=1)[None].astype(np.float32)


def build() -> onnx.ModelProto:
    b = GraphBuilder(SEED)
    n_tok = N_FRAMES_MEL // 2
    with b.scope("audio_encoder"):
        h = b.gelu(b.conv("mel", N_MELS, D_AUDIO, [3], "conv1"), "gelu1")
        h = b.gelu(b.conv(h, D_AUDIO, D_AUDIO, [3], "conv2", stride=2), "gelu2")
        h = b.transpose(h, [0, 2, 1], "to_tokens")
        h = b.op("Add", [h, b.const("positions", _sinusoid_positions(n_tok, D_AUDIO))], "add_positions")
        for i in range(2):
            h = b.transformer_layer(h, D_AUDIO, HEADS_AUDIO, 1, n_tok, f"layer{i}")
        audio = b.layer_norm(h, D_AUDIO, "ln_out")

    with b.scope("denoiser"):
        temb = b.timestep_embedding("timestep", 128, D_UNET, "time_embed")
        x0 = b.gelu(b.conv("latent", LATENT[1], 64, [3, 3], "conv_in"), "gelu_in")
        h = b.conv(x0, 64, 64, [3, 3], "res/conv1")
        h = b.conv(b.gelu(h, "res/gelu"), 64, 64, [3, 3], "res/conv2", gain=0.5)
        x0 = b.op("Add", [x0, h], "res/residual")
        h = b.conv(x0, 64, D_UNET, [3, 3], "down", stride=2)  # 32x32 -> 16x16
        h = b.op("Add", [h, b.reshape(temb, [1, D_UNET, 1, 1], "temb_bcast")], "add_temb")
        h = b.gelu(h, "gelu_down")
        h = b.transpose(b.reshape(h, [1, D_UNET, 256], "flatten"), [0, 2, 1], "to_tokens")
        h = b.transformer_layer(
            h, D_UNET, 4, 1, 256, "mid", context=audio, n_ctx=n_tok, d_ctx=D_AUDIO, outliers={5: 20.0, 77: 50.0}
        )
        h = b.reshape(b.transpose(h, [0, 2, 1], "to_map"), [1, D_UNET, 16, 16], "unflatten")
        h = b.conv_transpose(h, D_UNET, 64, [2, 2], 2, 0, "up")  # 16x16 -> 32x32
        h = b.gelu(b.op("Add", [h, x0], "skip"), "gelu_up")
        eps = b.conv(h, 64, LATENT[1], [3, 3], "conv_out", gain=0.5)
        # One deterministic sampler step: x_{t-1} = x_t - 0.5·eps.
        denoised = b.op("Sub", ["latent", b.scale(eps, 0.5, "step_size")], "step")

    with b.scope("frame_decoder"):
        h = b.reshape(denoised, [N_VIDEO_FRAMES, 4, 32, 32], "split_frames")
        h = b.gelu(b.conv(h, 4, 64, [3, 3], "conv_in"), "gelu_in")
        h = b.gelu(b.conv_transpose(h, 64, 32, [2, 2], 2, 0, "up1"), "gelu1")  # 64x64
        h = b.gelu(b.conv_transpose(h, 32, 16, [2, 2], 2, 0, "up2"), "gelu2")  # 128x128
        h = b.op("Sigmoid", [b.conv(h, 16, 3, [3, 3], "conv_out")], "Sigmoid")
        frames = b.reshape(h, [1, N_VIDEO_FRAMES, 3, IMG, IMG], "stack_frames")

    return b.model(
        NAME,
        [(s.name, TensorProto.FLOAT, s.shape) for s in INPUTS],
        [("frames", frames, (1, N_VIDEO_FRAMES, 3, IMG, IMG))],
        __doc__.strip().splitlines()[0],
    )


def sample(rng: np.random.Generator) -> dict[str, np.ndarray]:
    latent, t = _signals.noisy_latent(rng, LATENT, smooth_axes=2)
    return {"mel": _signals.speech_log_mel(rng, N_MELS, N_FRAMES_MEL)[None], "latent": latent, "timestep": t}


MODEL = ZooModel(
    name=NAME,
    description="speech-driven portrait animation proxy: audio encoder (conv1d + transformer), "
    "one UNet diffusion step with cross-attention to audio, frame decoder to 2 RGB 128x128 frames",
    output_kinds={"frames": "video"},
    modules=["audio_encoder", "denoiser", "frame_decoder"],
    inputs=INPUTS,
    module_outputs={
        "audio_encoder": "audio_encoder/ln_out/LayerNormalization:0",
        "denoiser": "denoiser/step:0",
        "frame_decoder": "frame_decoder/stack_frames:0",
    },
    _builder=build,
    _sampler=sample,
)
