"""Damaged metadata never raises: every mangled file still gets a Prediction."""

import json
import random

import pytest

from support.metadata_samples import (
    A1111_SDXL,
    COMFY_FLUX_PROMPT,
    c2pa_manifest,
    c2pa_signed,
    exif_bytes,
    jpeg,
    plain_jpeg,
    png_with_text,
    webp,
    xmp_packet,
)
from tribunal_sdk import Prediction


@pytest.fixture(scope="module")
def samples(signing_chain):
    return {
        "png": png_with_text(
            ("tEXt", "parameters", A1111_SDXL),
            ("zTXt", "prompt", json.dumps(COMFY_FLUX_PROMPT)),
            ("iTXt", "XML:com.adobe.xmp", xmp_packet("trainedAlgorithmicMedia").decode()),
        ),
        "jpeg": jpeg(exif=exif_bytes(Software="Midjourney", Make="Canon"), xmp=xmp_packet("digitalCapture")),
        "webp": webp(exif=exif_bytes(Software="DALL-E 3"), xmp=xmp_packet("trainedAlgorithmicMedia")),
        "c2pa": c2pa_signed(
            plain_jpeg(), "image/jpeg", c2pa_manifest("trainedAlgorithmicMedia"), signing_chain
        ),
    }


@pytest.mark.parametrize("name", ["png", "jpeg", "webp", "c2pa"])
@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's "Corrupt EXIF data" is expected here
def test_mutated_and_truncated_files_never_raise(detector, samples, name):
    original = samples[name]
    fmt = "jpeg" if name == "c2pa" else name
    rng = random.Random(f"metadata-{name}")
    for _ in range(60):
        data = bytearray(original)
        # Metadata lives near the start of these small files: flip bytes there, then sometimes cut.
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(8, min(len(data), 4096))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(16, len(data)) :]
        prediction = detector.predict_one(bytes(data), fmt)
        assert isinstance(prediction, Prediction)
        assert prediction.abstained or 0.0 <= prediction.prob_fake <= 1.0
