"""Quality of a pipeline's media: against the fp32 pipeline at the largest step count of the sweep.

The reference runs every stage in fp32 through the runtime that reads its format natively, on the
same inputs as the measured generations, at ``max(steps)``: a configuration with fewer steps is
scored for what it loses to both quantization and shorter sampling. The reference media are cached
by a hash of the stage files, the wiring, the sampler, the step count and the inputs. Audio media
also get a predicted MOS (DNSMOS, labelled MOS-LQO) when the DNSMOS models are installed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from harness.pipeline import Executor
from harness.pipeline_check import split_ref

AUDIO_RATE_HZ = 16000  # the zoo's audio rate; DNSMOS resamples other rates


def reference_media(child: Any, inputs: list[list[dict[str, np.ndarray]]]) -> tuple[list[np.ndarray], dict[str, Any]]:
    from harness.pipeline_run import media_key

    spec = child.spec
    steps = max(spec.steps)
    parts = [child.ref_sources[s.name].sha256 for s in spec.stages] + [
        json.dumps(spec.wiring, sort_keys=True), json.dumps({s.name: s.carry for s in spec.stages}, sort_keys=True),
        spec.sampler, str(spec.timestep_scale), spec.output, str(steps), str(spec.chunks)]
    cache = Path(child.cache_dir) / "reference"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"pipeline-{media_key(parts, inputs)}.npz"
    info = {"steps": steps, "precision": "fp32", "cache": path.name}
    if path.exists():
        with np.load(path) as z:
            return [z[f"m{i}"] for i in range(int(z["__n__"]))], info
    ex = Executor(spec, child.reference_runtimes())
    media: list[np.ndarray] = []
    try:
        ex.load_all()
        for feeds in inputs:
            media += ex.generate(feeds, steps).media
    finally:
        ex.close_all()
    from backends.base import atomic_path

    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, __n__=np.array(len(media)), **{f"m{i}": m for i, m in enumerate(media)})
    return media, info


def score_media(child: Any, generations: list[tuple[int, list[dict[str, np.ndarray]], list[np.ndarray]]]
                ) -> dict[str, Any]:
    """Quality of generated media: ``generations`` holds (input index, that input's chunk feeds, the
    media made from it); each is scored against the fp32 reference made from the same input."""
    from harness.quality.fidelity import score_outputs

    spec = child.spec
    distinct: dict[int, list[dict[str, np.ndarray]]] = {}
    for index, feeds, _ in generations:
        distinct.setdefault(index, feeds)
    order = sorted(distinct)
    reference, info = reference_media(child, [distinct[i] for i in order])
    per_input = len(reference) // max(1, len(order))
    by_input = {i: reference[k * per_input:(k + 1) * per_input] for k, i in enumerate(order)}
    expected = [r for index, _, media in generations for r in by_input[index][: len(media)]]
    got = [m for index, _, media in generations for m in media[: len(by_input[index])]]
    name = split_ref(spec.output)[1]
    scores = score_outputs({name: expected}, {name: got}, {name: spec.output_kind})
    scores["reference"] = {**info, "what": f"fp32 pipeline at {info['steps']} steps"}
    if spec.output_kind == "audio" and got:
        scores.update(predicted_mos(got[0]))
    if spec.output_kind == "video":
        scores["lse_reason"] = ("LSE-D/LSE-C need the clip's audio beside the frames and SyncNet weights, which "
                                "edgebench does not ship: render clips and attach `edgebench score lse ... --attach "
                                "RUN_ID`")
    return scores


def predicted_mos(waveform: np.ndarray) -> dict[str, Any]:
    """DNSMOS P.835 (+ P.808) of one clip, or the reason there is none. MOS-LQO, never MOS."""
    from harness.quality import QualityError
    from harness.quality.dnsmos import DnsMos, bundled_models

    try:
        models = bundled_models()
    except QualityError as exc:
        return {"mos_lqo_reason": str(exc)}
    scorer = DnsMos(models["p835"], p808_path=models.get("p808"))
    try:
        clip = np.clip(np.asarray(waveform, np.float32).ravel(), -1.0, 1.0)
        # One 9.01 s segment: a generated chunk (about 1 s) tiled to 9 s repeats itself, so more
        # segments would score the same sound again at several times the cost.
        result = scorer.score(clip, AUDIO_RATE_HZ, max_segments=1)
    finally:
        scorer.close()
    out = {k: v for k, v in result.items() if k.startswith("mos_lqo_")}
    out["mos_lqo_label"] = "MOS-LQO"
    out["mos_lqo_note"] = "DNSMOS predicts speech quality; on non-speech sound it is indicative only"
    return out
