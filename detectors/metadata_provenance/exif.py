"""Evidence from an EXIF block: the software that wrote the file, the camera, generator records.

EXIF says little a forger cannot type, so a camera ``Make``/``Model`` is weak evidence for real,
while ``Software`` naming a generator is moderate evidence for fake. A1111 and others write their
generation record into ``UserComment`` of JPEG and WebP files; that goes to ``generator_text``.
"""

from __future__ import annotations

import warnings

from PIL import Image

from detectors.metadata_provenance.evidence import Evidence, Findings, excerpt
from detectors.metadata_provenance.generator_names import ai_generator_in
from detectors.metadata_provenance.generator_text import interpret_text

# IFD0 tags.
MAKE, MODEL, SOFTWARE, IMAGE_DESCRIPTION = 0x010F, 0x0110, 0x0131, 0x010E
# Exif sub-IFD and its tags.
EXIF_IFD = 0x8769
USER_COMMENT, EXPOSURE_TIME, F_NUMBER, ISO, DATE_ORIGINAL, LENS_MODEL = (
    0x9286,
    0x829A,
    0x829D,
    0x8827,
    0x9003,
    0xA434,
)
_CAPTURE_SETTINGS = {EXPOSURE_TIME: "ExposureTime", F_NUMBER: "FNumber", ISO: "ISO", LENS_MODEL: "LensModel"}


def _text(value: object) -> str:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    return str(value).replace("\x00", "").strip() if value is not None else ""


def decode_user_comment(value: object) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text in that code."""
    if not isinstance(value, bytes):
        return _text(value)
    code, body = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        # The spec leaves the byte order to the writer; the zero high bytes of Latin text tell it.
        big_endian = body[0:1] == b"\x00" if body else True
        return body.decode("utf-16-be" if big_endian else "utf-16-le", errors="replace").replace("\x00", "")
    if code.startswith((b"ASCII", b"\x00" * 8)):
        return body.decode("utf-8", errors="replace").replace("\x00", "").strip()
    return _text(value)


def read_exif(blob: bytes, kind: str = "exif") -> Findings:
    """Evidence from one EXIF block (TIFF structure, optional ``Exif\\0\\0`` prefix)."""
    findings = Findings()
    exif = Image.Exif()
    try:
        # Pillow reports a corrupt IFD with warnings.warn and carries on with what it could read;
        # record those so the user sees the block was damaged.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exif.load(blob)
            sub_ifd = exif.get_ifd(EXIF_IFD)
    except Exception as exc:  # Pillow raises many types on garbage (SyntaxError, struct.error, ...)
        findings.warnings.append(f"{kind}: unreadable EXIF block ({type(exc).__name__}: {exc})")
        return findings
    findings.warnings += [f"{kind}: {w.message}" for w in caught]

    software = _text(exif.get(SOFTWARE))
    if software:
        findings.merge(interpret_text(kind, "Software", software))

    make, model = _text(exif.get(MAKE)), _text(exif.get(MODEL))
    if make or model:
        device = f"{make} {model}".strip()
        generator = ai_generator_in(device)
        if generator:
            findings.evidence.append(
                Evidence(kind, "Make/Model", "fake", "moderate", generator=generator, value=excerpt(device))
            )
        else:
            settings = [name for tag, name in _CAPTURE_SETTINGS.items() if sub_ifd.get(tag) is not None]
            note = f" ({', '.join(settings)} present)" if settings else ""
            findings.evidence.append(
                Evidence(kind, "Make/Model", "real", "weak", value=excerpt(device + note))
            )
            findings.details["camera"] = {"make": make, "model": model, "capture_settings": settings}

    description = _text(exif.get(IMAGE_DESCRIPTION))
    if description:
        findings.merge(interpret_text(kind, "ImageDescription", description))
    comment = decode_user_comment(sub_ifd.get(USER_COMMENT))
    if comment:
        findings.merge(interpret_text(kind, "UserComment", comment))
    return findings
