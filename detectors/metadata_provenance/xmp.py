"""Evidence from an XMP packet: the IPTC digital source type, the creator tool, the AI system used.

Parsed with defusedxml, so DTDs, entity expansion and external references are refused rather than
resolved. A packet that does not parse becomes a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from detectors.metadata_provenance.evidence import Evidence, Findings, excerpt
from detectors.metadata_provenance.generator_names import ai_generator_in
from detectors.metadata_provenance.generator_text import interpret_text
from detectors.metadata_provenance.source_type import classify, source_term
from tribunal_sdk.taxonomy import OTHER_AI

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RDF_DESCRIPTION = f"{{{RDF}}}Description"
_RDF_LI = f"{{{RDF}}}li"
_RDF_RESOURCE = f"{{{RDF}}}resource"
# A packet larger than this is not parsed: real packets are kilobytes, Photoshop history a few MB.
MAX_PACKET_BYTES = 8 * 1024 * 1024

# IPTC 2025.1 AI properties (Iptc4xmpExt): the system that generated the image.
_AI_SYSTEM_PROPERTIES = {"AISystemUsed", "AISystemVersionUsed"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def properties(root: Element) -> Iterator[tuple[str, str]]:
    """(local property name, value) for every simple value in the packet.

    XMP writes a property either as an attribute of ``rdf:Description``, as an element with text or
    ``rdf:resource``, or as an ``rdf:Alt/Seq/Bag`` of ``rdf:li`` values; all three come out here.
    """
    for element in root.iter():
        if element.tag == _RDF_DESCRIPTION:
            for name, value in element.attrib.items():
                if not name.startswith(f"{{{RDF}}}"):
                    yield _local(name), value
            continue
        if element.tag.startswith(f"{{{RDF}}}"):
            continue
        name = _local(element.tag)
        if element.text and element.text.strip():
            yield name, element.text.strip()
        if element.get(_RDF_RESOURCE):
            yield name, element.get(_RDF_RESOURCE, "")
        for container in element:
            for item in container:
                if item.tag == _RDF_LI and item.text and item.text.strip():
                    yield name, item.text.strip()


def _source_type_evidence(value: str) -> Evidence:
    verdict = classify(value)
    term = source_term(value)
    if verdict == "ai":
        return Evidence("xmp", "DigitalSourceType", "fake", "moderate", generator=OTHER_AI, value=term)
    if verdict == "composite_ai":
        return Evidence("xmp", "DigitalSourceType", "fake", "weak", generator=OTHER_AI, value=term)
    if verdict == "capture":
        return Evidence("xmp", "DigitalSourceType", "real", "weak", value=term)
    return Evidence("xmp", "DigitalSourceType", "neutral", value=term)


def read_xmp(packet: bytes) -> Findings:
    """Evidence from one XMP packet."""
    findings = Findings()
    if len(packet) > MAX_PACKET_BYTES:
        findings.warnings.append(f"xmp: packet of {len(packet)} bytes not parsed (limit {MAX_PACKET_BYTES})")
        return findings
    try:
        root = fromstring(packet.strip(b"\x00 \t\r\n"))
    except (ParseError, DefusedXmlException, ValueError) as exc:
        findings.warnings.append(f"xmp: malformed packet ignored ({type(exc).__name__}: {exc})")
        return findings

    for name, value in properties(root):
        if name == "DigitalSourceType":
            findings.evidence.append(_source_type_evidence(value))
        elif name == "CreatorTool":
            findings.merge(interpret_text("xmp", "CreatorTool", value))
        elif name in _AI_SYSTEM_PROPERTIES:
            # The property itself declares an AI system, so an unknown name is still AI.
            generator = ai_generator_in(value) or OTHER_AI
            findings.evidence.append(
                Evidence("xmp", name, "fake", "moderate", generator=generator, value=excerpt(value))
            )
    return findings
