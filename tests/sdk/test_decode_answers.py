"""No behaviour change for ordinary uploads: the image detectors score memory-bounded decodes exactly as
they scored the old decode (load, EXIF-transpose, convert to RGB), to within 1e-6."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageOps

from tribunal_sdk import ImageInput
from tribunal_sdk.media import decode_image, sha256_hex

pytestmark = pytest.mark.slow  # loads three real detectors (about 10 s here)


def _reference_input(data: bytes) -> ImageInput:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    return ImageInput(image=rgb, raw=data, format="reference", sha256=sha256_hex(data))


def _uploads() -> list[bytes]:
    rng = np.random.default_rng(11)
    base = np.clip(rng.normal(128, 40, (700, 900, 3)), 0, 255).astype(np.uint8)
    rgb = Image.fromarray(base).filter(ImageFilter.GaussianBlur(1.2))  # photo-like, not pure noise
    rgba = rgb.convert("RGBA")
    rgba.putalpha(200)
    exif = Image.Exif()
    exif[0x0112] = 6
    out = []
    for image, fmt, kw in (
        (rgb, "JPEG", {"quality": 92}),
        (rgba, "PNG", {}),
        (rgb, "JPEG", {"exif": exif.tobytes()}),
    ):
        buf = io.BytesIO()
        image.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    return out


@pytest.fixture(scope="module", params=["fft_spectral", "attribution_cnn", "clip_universal"])
def detector(request):
    if request.param == "fft_spectral":
        from detectors.fft_spectral.detector import FftSpectralDetector as cls
    elif request.param == "attribution_cnn":
        from detectors.attribution_cnn.detector import AttributionCnnDetector as cls
    else:
        from detectors.clip_universal.detector import ClipUniversalDetector as cls
    from tribunal_sdk import WeightsUnavailable

    found = cls()
    try:
        found.load()
    except WeightsUnavailable as exc:
        pytest.skip(f"{request.param} has no weights here: {exc}")
    return found


def test_ordinary_uploads_get_the_same_prob_fake_as_before(detector):
    uploads = _uploads()
    now = detector.predict_batch([decode_image(data) for data in uploads])
    before = detector.predict_batch([_reference_input(data) for data in uploads])
    for a, b in zip(now, before, strict=True):
        assert a.prob_fake == pytest.approx(b.prob_fake, abs=1e-6)
        if b.class_probs:
            assert a.class_probs == pytest.approx(b.class_probs, abs=1e-6)
