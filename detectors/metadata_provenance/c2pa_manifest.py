"""Evidence from a C2PA manifest store (Content Credentials), read with c2pa-python.

What counts:

* an action (or IPTC assertion) whose ``digitalSourceType`` is ``trainedAlgorithmicMedia`` or
  ``compositeWithTrainedAlgorithmicMedia``, in the active manifest or any ingredient's, is evidence
  for fake; the generator is looked up in the action's ``softwareAgent``, the claim generator and
  the signer;
* a capture source type (``digitalCapture``, ...) with no AI action anywhere is evidence for real.

How much it counts depends on validation: ``Trusted`` (signer chains to a configured trust anchor),
``Valid`` (signature and hashes check out, signer unknown: reported as "signed") or ``Invalid``
(the file or manifest changed after signing). Remote manifests and OCSP are never fetched: a
detector must not make network requests chosen by an uploaded file.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from detectors.metadata_provenance.evidence import Evidence, Findings, Strength, excerpt
from detectors.metadata_provenance.generator_names import ai_generator_in
from detectors.metadata_provenance.source_type import classify, source_term
from tribunal_sdk.taxonomy import OTHER_AI

MIME_TYPES = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "gif": "image/gif",
}
# c2pa-rs validation_state -> what details report.
STATES = {"Trusted": "trusted", "Valid": "signed", "Invalid": "invalid"}
# (source class, validation state) -> strength.
_FAKE_STRENGTH: dict[tuple[str, str], Strength] = {
    ("ai", "trusted"): "strong",
    ("ai", "signed"): "strong",
    ("ai", "invalid"): "moderate",
    ("composite_ai", "trusted"): "moderate",
    ("composite_ai", "signed"): "moderate",
    ("composite_ai", "invalid"): "weak",
}
# A self-made certificate signs as easily as a camera maker's, so only trust makes capture strong.
_REAL_STRENGTH: dict[str, Strength] = {"trusted": "strong", "signed": "moderate", "invalid": "weak"}
# Informational status codes that do not mean the manifest failed.
_NOT_FAILURES = {"signingCredential.untrusted"}


def _source_types(value: Any, depth: int = 0) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """Every digital source type in an assertion, with the action that carries it (if any)."""
    if depth > 8:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and key.lower().endswith("digitalsourcetype"):
                yield item, value if "action" in value else None
            elif isinstance(item, dict | list):
                yield from _source_types(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            yield from _source_types(item, depth + 1)


def _agent_name(action: dict[str, Any] | None) -> str:
    agent = (action or {}).get("softwareAgent")
    if isinstance(agent, dict):
        return str(agent.get("name", ""))
    return str(agent or "")


def _claim_generators(manifest: dict[str, Any]) -> list[str]:
    names = [str(manifest.get("claim_generator") or "")]
    for info in manifest.get("claim_generator_info") or []:
        if isinstance(info, dict):
            names.append(str(info.get("name") or ""))
    return [n for n in names if n]


def _signer(manifest: dict[str, Any]) -> dict[str, str]:
    info = manifest.get("signature_info") or {}
    return {k: str(info[k]) for k in ("issuer", "common_name", "time") if info.get(k)}


@dataclass(frozen=True)
class _SourceClaim:
    """One digital source type found in a manifest."""

    verdict: str  # source_type.classify()
    term: str
    names: list[str]  # where the generator may be named: software agent, claim generator, signer
    manifest: str  # "active" or "ingredient"


def _source_claims(manifests: dict[str, Any], active_label: str | None) -> list[_SourceClaim]:
    claims = []
    for label, manifest in manifests.items():
        if not isinstance(manifest, dict):
            continue
        # An ingredient's manifest counts too: an edit of a generated image is still generated.
        where = "active" if label == active_label else "ingredient"
        manifest_names = [*_claim_generators(manifest), *_signer(manifest).values()]
        for assertion in manifest.get("assertions") or []:
            data = assertion.get("data") if isinstance(assertion, dict) else None
            for value, action in _source_types(data):
                names = [n for n in (_agent_name(action), *manifest_names) if n]
                claims.append(_SourceClaim(classify(value), source_term(value), names, where))
    return claims


def interpret_store(store: dict[str, Any], state: str | None) -> Findings:
    """Evidence from a manifest store as c2pa's ``Reader.json()`` reports it."""
    findings = Findings()
    manifests: dict[str, Any] = store.get("manifests") or {}
    active_label = store.get("active_manifest")
    active = manifests.get(active_label) or {}
    failures = [
        str(s.get("code"))
        for s in store.get("validation_status") or []
        if isinstance(s, dict) and s.get("code") not in _NOT_FAILURES
    ]
    validation = STATES.get(state or "", "invalid" if failures else "signed")
    claims = _source_claims(manifests, active_label)

    findings.details["c2pa"] = {
        "validation_state": validation,
        "active_manifest": active_label,
        "manifests": len(manifests),
        "claim_generator": ", ".join(_claim_generators(active)) or None,
        "signer": _signer(active) or None,
        "digital_source_types": sorted({c.term for c in claims}),
        "failures": failures,
    }
    if validation == "invalid":
        findings.warnings.append(
            "c2pa manifest fails validation (" + ", ".join(failures or ["unknown"]) + "): "
            "the file or its manifest changed after signing"
        )

    ai = [c for c in claims if c.verdict in ("ai", "composite_ai")]
    captured = [c for c in claims if c.verdict == "capture"]
    if ai:
        # A manifest declaring the whole image generated outweighs one declaring AI parts.
        top = next((c for c in ai if c.verdict == "ai"), ai[0])
        names = [n for c in ai for n in c.names]
        generator = next((g for g in map(ai_generator_in, names) if g), None) or OTHER_AI
        findings.evidence.append(
            Evidence(
                "c2pa",
                "digitalSourceType" if top.manifest == "active" else "ingredient.digitalSourceType",
                "fake",
                _FAKE_STRENGTH[(top.verdict, validation)],
                generator=generator,
                tool=excerpt(names[0], 80) if names else None,
                value=top.term,
            )
        )
    elif captured:
        findings.evidence.append(
            Evidence("c2pa", "digitalSourceType", "real", _REAL_STRENGTH[validation], value=captured[0].term)
        )
    else:
        findings.evidence.append(
            Evidence(
                "c2pa", "manifest", "neutral", value=excerpt(", ".join(_claim_generators(active)) or "?")
            )
        )
    return findings


class C2paManifestReader:
    """Reads C2PA manifest stores. Construct once (in ``load()``): it builds the c2pa context."""

    def __init__(self, trust_anchors_pem: str | None = None):
        import c2pa  # imported here so a missing package surfaces in load() as a readiness failure

        self._c2pa = c2pa
        settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False}}
        if trust_anchors_pem:
            settings["trust"] = {"trust_anchors": trust_anchors_pem}
        self._context = c2pa.Context.from_dict(settings)

    @property
    def sdk_version(self) -> str:
        return self._c2pa.sdk_version()

    def read(self, raw: bytes, fmt: str) -> Findings:
        """Evidence from the manifest store embedded in ``raw``; empty findings when there is none."""
        mime = MIME_TYPES.get(fmt)
        if mime is None:
            return Findings()
        try:
            reader = self._c2pa.Reader.try_create(mime, io.BytesIO(raw), None, self._context)
            if reader is None:
                return Findings()
            with reader:
                store = json.loads(reader.json())
                state = reader.get_validation_state()
        except self._c2pa.C2paError as exc:
            message = excerpt(str(exc), 200)
            if "remote manifest" in message.lower():
                # The file points at a manifest on some server; we do not follow it (see module doc).
                return Findings(
                    evidence=[Evidence("c2pa", "remote_manifest", "neutral", value=message)],
                    warnings=[f"c2pa: the manifest is remote and was not fetched ({message})"],
                )
            return Findings(warnings=[f"c2pa: could not read C2PA data ({message})"])
        return interpret_store(store, state)
