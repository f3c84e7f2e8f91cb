"""The metadata provenance detector: what an image file says about its own origin.

No model and no weights: it reads C2PA manifests, generator records in PNG text chunks, EXIF and
XMP from the untouched upload (``ImageInput.raw``) and turns what it finds into a Prediction (see
``evidence.py`` for the scoring). With nothing to go on it abstains with ``no_evidence``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from pydantic_settings import BaseSettings, SettingsConfigDict

from detectors.metadata_provenance.c2pa_manifest import C2paManifestReader
from detectors.metadata_provenance.containers import MetadataBlocks, extract_blocks
from detectors.metadata_provenance.evidence import Findings, score
from detectors.metadata_provenance.exif import read_exif
from detectors.metadata_provenance.generator_text import interpret_text
from detectors.metadata_provenance.xmp import read_xmp
from tribunal_sdk import ImageDetector, ImageInput, Prediction, WeightsUnavailable
from tribunal_sdk.detector import DetectorSpec

log = logging.getLogger("tribunal.metadata_provenance")
T = TypeVar("T")


class MetadataSettings(BaseSettings):
    """Detector-specific settings (environment variables prefixed ``TRIBUNAL_METADATA_``)."""

    model_config = SettingsConfigDict(env_prefix="TRIBUNAL_METADATA_", extra="ignore")

    # PEM bundle of C2PA trust anchors (e.g. the C2PA trust list). Without it a correctly signed
    # manifest is reported as "signed", never "trusted".
    c2pa_trust_anchors: Path | None = None


def _safely(findings: Findings, what: str, read: Callable[[], T], fallback: T) -> T:
    """Run one reader; a reader that trips over a file costs a warning, never the request."""
    try:
        return read()
    except Exception as exc:  # the boundary where malformed metadata must not become a 500
        log.warning("%s reader failed", what, exc_info=True)
        findings.warnings.append(f"{what}: reader failed ({type(exc).__name__}: {exc})")
        return fallback


class MetadataProvenanceDetector(ImageDetector):
    """Scores an image by its C2PA manifest, generator text chunks, EXIF and XMP."""

    # It reads only the uploaded bytes: the SDK checks that the image decodes without holding its pixels.
    reads_pixels = False

    def __init__(
        self,
        spec: DetectorSpec | None = None,
        device: str | None = None,
        settings: MetadataSettings | None = None,
    ):
        super().__init__(spec, device)
        self.settings = settings or MetadataSettings()
        self._c2pa: C2paManifestReader | None = None

    def load(self) -> None:
        """Nothing to download: check that c2pa-python imports and read the optional trust anchors."""
        anchors_path = self.settings.c2pa_trust_anchors
        anchors = None
        if anchors_path is not None:
            try:
                anchors = anchors_path.read_text()
            except OSError as exc:
                raise WeightsUnavailable(
                    f"TRIBUNAL_METADATA_C2PA_TRUST_ANCHORS={anchors_path} cannot be read: {exc}"
                ) from exc
        try:
            self._c2pa = C2paManifestReader(trust_anchors_pem=anchors)
        except ImportError as exc:
            raise WeightsUnavailable(
                f"c2pa-python is not importable ({exc}); install it with `pip install c2pa-python`"
            ) from exc
        except Exception as exc:  # c2pa rejects the settings, e.g. a trust anchor file that is not PEM
            raise WeightsUnavailable(f"c2pa could not be configured: {exc}") from exc

    def runtime_info(self) -> dict[str, Any]:
        anchors = self.settings.c2pa_trust_anchors
        return {
            "c2pa_sdk_version": self._c2pa.sdk_version if self._c2pa else None,
            "c2pa_trust_anchors": str(anchors) if anchors else None,
        }

    def predict_batch(self, inputs: list[ImageInput]) -> list[Prediction]:
        return [self.predict_one(item.raw, item.format) for item in inputs]

    def predict_one(self, raw: bytes, fmt: str) -> Prediction:
        """Read every kind of metadata in one file and score it."""
        if self._c2pa is None:
            raise RuntimeError("load() has not run")
        findings = Findings(details={"format": fmt})
        findings.merge(_safely(findings, "c2pa", partial(self._c2pa.read, raw, fmt), Findings()))
        blocks = _safely(findings, "container", partial(extract_blocks, raw, fmt), MetadataBlocks())
        findings.warnings.extend(blocks.warnings)
        for chunk in blocks.text:
            kind = "jpeg_comment" if chunk.chunk == "COM" else "png_text"
            findings.merge(
                _safely(findings, kind, partial(interpret_text, kind, chunk.key, chunk.text), Findings())
            )
        for blob in blocks.exif:
            findings.merge(_safely(findings, "exif", partial(read_exif, blob), Findings()))
        for packet in blocks.xmp:
            findings.merge(_safely(findings, "xmp", partial(read_xmp, packet), Findings()))
        return score(findings)
