"""Image files with each kind of provenance metadata, crafted in the tests.

Written with Pillow (PNG text chunks, EXIF, XMP), by hand where Pillow refuses to write something
broken, and with c2pa-python's Builder plus a throwaway ES256 certificate chain for C2PA.
"""

from __future__ import annotations

import datetime
import io
import json
import struct
import zlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image, PngImagePlugin

IPTC_SOURCE = "http://cv.iptc.org/newscodes/digitalsourcetype/"

A1111_SDXL = (
    "a lighthouse at dusk, volumetric light\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567, Size: 1024x1024, "
    'Model hash: 31e35c80fc, Model: sd_xl_base_1.0, Lora hashes: "detail: 0123abcd", Version: v1.10.1'
)

COMFY_FLUX_PROMPT = {
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["11", 0]}},
    "12": {
        "class_type": "UNETLoader",
        "inputs": {"unet_name": "flux1-dev.safetensors", "weight_dtype": "default"},
    },
    "13": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["25", 0]}},
    "10": {"class_type": "VAELoader", "inputs": {"vae_name": "ae.safetensors"}},
}

COMFY_SDXL_WORKFLOW = {
    "last_node_id": 9,
    "nodes": [
        {"id": 4, "type": "CheckpointLoaderSimple", "widgets_values": ["sd_xl_base_1.0.safetensors"]},
        {"id": 3, "type": "KSampler", "widgets_values": [42, "randomize", 20, 8, "euler", "normal", 1]},
        {"id": 8, "type": "UpscaleModelLoader", "widgets_values": ["4x-UltraSharp.pth"]},
    ],
}


def _pixels(size: tuple[int, int] = (48, 32)) -> Image.Image:
    # Not a flat colour, so encoders behave as they do on photos.
    return Image.linear_gradient("L").resize(size).convert("RGB")


def plain_png() -> bytes:
    buf = io.BytesIO()
    _pixels().save(buf, "PNG")
    return buf.getvalue()


def plain_jpeg() -> bytes:
    buf = io.BytesIO()
    _pixels().save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png_with_text(*chunks: tuple[str, str, str]) -> bytes:
    """A PNG with (chunk type, keyword, text) chunks; chunk type is tEXt, zTXt or iTXt."""
    info = PngImagePlugin.PngInfo()
    for kind, key, text in chunks:
        if kind == "tEXt":
            info.add_text(key, text)
        elif kind == "zTXt":
            info.add_text(key, text, zip=True)
        elif kind == "iTXt":
            info.add_itxt(key, text, zip=True)
        else:
            raise ValueError(kind)
    buf = io.BytesIO()
    _pixels().save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def insert_png_chunk(png: bytes, chunk: bytes) -> bytes:
    """Put a raw chunk just before IEND (after the pixels, where some writers put metadata)."""
    iend = png.rindex(b"IEND") - 4
    return png[:iend] + chunk + png[iend:]


def exif_bytes(**tags: object) -> bytes:
    """EXIF with IFD0 tags given by name (Software, Make, Model, ImageDescription) and Exif-IFD
    tags UserComment / ExposureTime / FNumber."""
    exif = Image.Exif()
    ifd0 = {"Make": 0x010F, "Model": 0x0110, "Software": 0x0131, "ImageDescription": 0x010E}
    sub = {"UserComment": 0x9286, "ExposureTime": 0x829A, "FNumber": 0x829D}
    for name, value in tags.items():
        if name in ifd0:
            exif[ifd0[name]] = value
        else:
            exif.get_ifd(0x8769)[sub[name]] = value
    return exif.tobytes()


def user_comment_unicode(text: str) -> bytes:
    """UserComment the way A1111 writes it (piexif's UNICODE, big-endian UTF-16)."""
    return b"UNICODE\x00" + text.encode("utf-16-be")


def jpeg(exif: bytes | None = None, xmp: bytes | None = None, comment: bytes | None = None) -> bytes:
    kwargs: dict[str, object] = {"quality": 90}
    if exif is not None:
        kwargs["exif"] = exif
    if xmp is not None:
        kwargs["xmp"] = xmp
    if comment is not None:
        kwargs["comment"] = comment
    buf = io.BytesIO()
    _pixels().save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def webp(exif: bytes | None = None, xmp: bytes | None = None) -> bytes:
    kwargs: dict[str, object] = {"lossless": True}
    if exif is not None:
        kwargs["exif"] = exif
    if xmp is not None:
        kwargs["xmp"] = xmp
    buf = io.BytesIO()
    _pixels().save(buf, "WEBP", **kwargs)
    return buf.getvalue()


def xmp_packet(
    source_type: str | None = None, creator_tool: str | None = None, as_element: bool = False
) -> bytes:
    """An XMP packet. The digital source type is written as an attribute (the compact form
    exiftool and Adobe use) or, with ``as_element``, as an element with ``rdf:resource``."""
    attrs, elements = [], []
    if source_type and as_element:
        elements.append(f'<Iptc4xmpExt:DigitalSourceType rdf:resource="{IPTC_SOURCE}{source_type}"/>')
    elif source_type:
        attrs.append(f'Iptc4xmpExt:DigitalSourceType="{IPTC_SOURCE}{source_type}"')
    if creator_tool:
        elements.append(f"<xmp:CreatorTool>{creator_tool}</xmp:CreatorTool>")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'xmlns:xmp="http://ns.adobe.com/xap/1.0/" {" ".join(attrs)}>'
        f"{''.join(elements)}"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


# --- C2PA ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SigningChain:
    """A throwaway root CA and an ES256 signing certificate it issued."""

    chain_pem: bytes  # signer certificate first, then the root
    key_pem: bytes
    root_pem: bytes


def make_signing_chain() -> SigningChain:
    """C2PA wants a CA-issued end-entity certificate (not self-signed) with digitalSignature key usage
    and an accepted extended key usage (emailProtection here)."""
    now = datetime.datetime.now(datetime.UTC)
    org = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tribunal tests")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tribunal Test Root"), org])
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tribunal Test Signer"), org]))
        .issuer_name(root_name)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return SigningChain(
        chain_pem=leaf.public_bytes(pem) + root.public_bytes(pem),
        key_pem=leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
        root_pem=root.public_bytes(pem),
    )


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def c2pa_manifest(
    source_type: str, software_agent: str | None = None, claim_generator: str = "Tribunal Test"
) -> dict:
    action: dict[str, object] = {"action": "c2pa.created", "digitalSourceType": IPTC_SOURCE + source_type}
    if software_agent:
        action["softwareAgent"] = {"name": software_agent}
    return {
        "claim_generator_info": [{"name": claim_generator, "version": "1.0"}],
        "title": "crafted",
        "assertions": [{"label": "c2pa.actions", "data": {"actions": [action]}}],
    }


def c2pa_signed(image: bytes, mime: str, manifest: dict, chain: SigningChain) -> bytes:
    """``image`` with ``manifest`` embedded and signed by ``chain``."""
    import c2pa

    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain_pem, chain.key_pem, None)
    )
    out = io.BytesIO()
    with signer, c2pa.Builder(json.dumps(manifest)) as builder:
        builder.sign(signer, mime, io.BytesIO(image), out)
    return out.getvalue()


def c2pa_edit_of(parent: bytes, chain: SigningChain) -> bytes:
    """A signed JPEG 'edited' from ``parent`` (itself signed): ``parent``'s manifest becomes an ingredient."""
    import c2pa

    manifest = {
        "claim_generator_info": [{"name": "Photo Editor", "version": "2.0"}],
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}},
                        {"action": "c2pa.color_adjustments"},
                    ]
                },
            }
        ],
    }
    ingredient = {
        "title": "parent.jpg",
        "relationship": "parentOf",
        "instance_id": "parent",
        "label": "parent",
    }
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain.chain_pem, chain.key_pem, None)
    )
    out = io.BytesIO()
    with signer, c2pa.Builder(json.dumps(manifest)) as builder:
        builder.add_ingredient(ingredient, "image/jpeg", io.BytesIO(parent))
        builder.sign(signer, "image/jpeg", io.BytesIO(parent), out)
    return out.getvalue()
