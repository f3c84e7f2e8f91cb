"""Recognise the generation records that image generators write into text metadata.

The records and where they live:

* Automatic1111 / Forge / SD.Next: ``parameters`` (PNG) or EXIF ``UserComment`` (JPEG/WebP), the
  "infotext": prompt, ``Negative prompt: ...``, then ``Steps: 20, Sampler: ..., Model: ...``.
* ComfyUI: ``prompt`` (the API graph: ``{id: {"class_type", "inputs"}}``) and ``workflow`` (the UI
  graph: ``{"nodes": [{"type", "widgets_values"}]}``), both JSON.
* InvokeAI: ``invokeai_metadata`` (JSON with ``model``), older ``sd-metadata`` and ``Dream``.
* Fooocus: ``fooocus_scheme`` plus JSON ``parameters`` with ``base_model``; SwarmUI: JSON
  ``parameters`` with ``sui_image_params``.
* NovelAI: ``Software: NovelAI``, ``Source: <model name>``, ``Comment`` with JSON settings.
* Midjourney: a ``Description`` ending in ``Job ID: <uuid>``.

A generation record is strong evidence (nobody but a generator writes sampler settings into an
image); a software name is moderate. Bad JSON is reported as a warning, never raised.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from detectors.metadata_provenance.evidence import Evidence, Findings, excerpt
from detectors.metadata_provenance.generator_names import ai_generator_in, generator_from_checkpoint
from tribunal_sdk.taxonomy import OTHER_AI

# Keys holding the name of the software or device that made the file (PNG keywords, EXIF tags).
SOFTWARE_KEYS = {"software", "source", "creatortool"}
# Keys holding free text where an infotext or a Midjourney job line may appear.
FREE_TEXT_KEYS = {"comment", "description", "title", "imagedescription", "usercomment"}
# Keys holding a JSON generation record (lower-cased).
JSON_RECORD_KEYS = {
    "prompt",
    "workflow",
    "invokeai_metadata",
    "invokeai_graph",
    "sd-metadata",
    "generation_data",
}
# Keys whose mere presence is a generation record.
MARKER_KEYS = {"fooocus_scheme": "fooocus", "dream": "invokeai"}

_INFOTEXT_LINE = re.compile(r"^Steps:\s*\d+.*$", re.M)
_INFOTEXT_FIELD = re.compile(r'\s*([A-Za-z][\w /()-]*?):\s*("(?:\\.|[^"\\])*"|[^,]*)(?:,|$)')
_MIDJOURNEY_JOB = re.compile(r"Job ID:\s*[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
# Generation settings a NovelAI-style JSON comment carries.
_SETTING_KEYS = {"steps", "sampler", "seed", "scale", "cfg_scale", "uc", "negative_prompt", "noise_schedule"}
# JSON keys that name the model in Fooocus, SwarmUI, InvokeAI and similar records.
_MODEL_KEYS = (
    "base_model",
    "model",
    "model_name",
    "sd_model_name",
    "ckpt_name",
    "unet_name",
    "model_weights",
)
# ComfyUI node inputs that load a diffusion model.
_COMFY_MODEL_INPUTS = ("ckpt_name", "unet_name", "model_path")
_COMFY_LOADER_TYPE = re.compile(
    r"(checkpoint|unet|diffusion[\s_-]*model).*loader|loader.*(checkpoint|unet)", re.I
)
_MODEL_FILE = re.compile(r"\.(safetensors|ckpt|gguf|sft|pt|pth|bin)$", re.I)


def parse_infotext(text: str) -> dict[str, str] | None:
    """The ``key: value`` settings of an A1111-style infotext, or None if ``text`` is not one."""
    match = _INFOTEXT_LINE.search(text)
    if not match:
        return None
    fields = {k.strip(): v.strip().strip('"') for k, v in _INFOTEXT_FIELD.findall(match.group(0))}
    # "Steps" alone could be a recipe; a sampler, seed or CFG scale makes it a diffusion record.
    if not {"Sampler", "Seed", "CFG scale"} & fields.keys():
        return None
    return fields


def _infotext_evidence(kind: str, key: str, fields: dict[str, str]) -> Evidence:
    model = fields.get("Model", "")
    version = fields.get("Version", "")
    tool = "forge" if version.startswith("f") else "automatic1111"
    return Evidence(
        kind=kind,
        key=key,
        direction="fake",
        strength="strong",
        generator=generator_from_checkpoint(model) if model else OTHER_AI,
        tool=tool,
        value=excerpt(f"Model: {model}" if model else f"Model hash: {fields.get('Model hash', '?')}"),
    )


def _comfy_api_models(graph: dict[str, Any]) -> list[str] | None:
    nodes = [n for n in graph.values() if isinstance(n, dict) and "class_type" in n]
    if not nodes:
        return None
    names = []
    for node in nodes:
        inputs = node.get("inputs")
        if isinstance(inputs, dict):
            names += [inputs[k] for k in _COMFY_MODEL_INPUTS if isinstance(inputs.get(k), str)]
    return names


def _comfy_ui_models(graph: dict[str, Any]) -> list[str] | None:
    nodes = graph.get("nodes")
    if not isinstance(nodes, list) or not any(isinstance(n, dict) and "type" in n for n in nodes):
        return None
    names = []
    for node in nodes:
        if not isinstance(node, dict) or not _COMFY_LOADER_TYPE.search(str(node.get("type", ""))):
            continue
        widgets = node.get("widgets_values")
        if isinstance(widgets, list):
            names += [w for w in widgets if isinstance(w, str) and _MODEL_FILE.search(w)]
    return names


def _model_fields(record: Any, depth: int = 0) -> Iterator[str]:
    """Model names anywhere in a JSON record (bounded depth: records are shallow, input is not)."""
    if depth > 6:
        return
    if isinstance(record, dict):
        for key, value in record.items():
            if key in _MODEL_KEYS and isinstance(value, str) and value:
                yield value
            elif key in _MODEL_KEYS and isinstance(value, dict):
                # InvokeAI: {"model": {"name": ..., "base": "sd-1"}}. The base is the family as the
                # tool knows it; a fine-tune's name can mislead (Juggernaut exists for SD1.5 and SDXL).
                for part in ("base", "base_model", "name", "model_name"):
                    if isinstance(value.get(part), str) and value[part]:
                        yield value[part]
                        break
            elif isinstance(value, dict | list):
                yield from _model_fields(value, depth + 1)
    elif isinstance(record, list):
        for value in record[:1000]:
            yield from _model_fields(value, depth + 1)


def _record_evidence(kind: str, key: str, tool: str, models: list[str]) -> list[Evidence]:
    """One strong item per distinct model family the record names (one item when none is named)."""
    families = {generator_from_checkpoint(m): m for m in models}
    specific = {g: m for g, m in families.items() if g != OTHER_AI}
    chosen = specific or families or {OTHER_AI: ""}
    return [
        Evidence(kind, key, "fake", "strong", generator=g, tool=tool, value=excerpt(m) if m else "")
        for g, m in chosen.items()
    ]


def _json_record(kind: str, key: str, text: str, findings: Findings) -> None:
    try:
        record = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        findings.warnings.append(f"{kind} {key!r} holds invalid JSON ({exc}); ignored")
        findings.evidence.append(Evidence(kind, key, "neutral", value=excerpt(text, 80)))
        return
    lowered = key.lower()
    if isinstance(record, dict) and lowered == "prompt":
        models = _comfy_api_models(record)
        if models is not None:
            findings.evidence += _record_evidence(kind, key, "comfyui", models)
            return
    if isinstance(record, dict) and lowered == "workflow":
        models = _comfy_ui_models(record)
        if models is not None:
            findings.evidence += _record_evidence(kind, key, "comfyui", models)
            return
    if isinstance(record, dict) and lowered in {"invokeai_metadata", "invokeai_graph", "sd-metadata"}:
        findings.evidence += _record_evidence(kind, key, "invokeai", list(_model_fields(record)))
        return
    if isinstance(record, dict) and lowered == "generation_data":
        findings.evidence += _record_evidence(kind, key, "generator", list(_model_fields(record)))
        return
    # Valid JSON under a generator's key but not in a shape we know: report it, do not score it.
    findings.evidence.append(Evidence(kind, key, "neutral", value=excerpt(text, 80)))


def _json_parameters_tool(record: dict[str, Any]) -> str:
    """Which tool wrote a JSON ``parameters`` record (A1111 writes plain infotext instead)."""
    if "sui_image_params" in record:
        return "swarmui"
    if "fooocus" in json.dumps(record).lower():
        return "fooocus"
    return "generator"


def _parameters(kind: str, key: str, text: str, findings: Findings) -> None:
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError) as exc:
            findings.warnings.append(f"{kind} {key!r} holds invalid JSON ({exc}); ignored")
            findings.evidence.append(Evidence(kind, key, "neutral", value=excerpt(stripped, 80)))
            return
        if isinstance(record, dict):
            findings.evidence += _record_evidence(
                kind, key, _json_parameters_tool(record), list(_model_fields(record))
            )
        return
    fields = parse_infotext(stripped)
    if fields is not None:
        findings.evidence.append(_infotext_evidence(kind, key, fields))
    else:
        findings.evidence.append(Evidence(kind, key, "neutral", value=excerpt(stripped, 80)))


def _free_text(kind: str, key: str, text: str, findings: Findings) -> None:
    fields = parse_infotext(text)
    if fields is not None:
        findings.evidence.append(_infotext_evidence(kind, key, fields))
        return
    job = _MIDJOURNEY_JOB.search(text)
    if job:
        findings.evidence.append(
            Evidence(
                kind, key, "fake", "moderate", generator="midjourney", tool="midjourney", value=job.group(0)
            )
        )
        return
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            record = json.loads(stripped)
        except (json.JSONDecodeError, RecursionError):
            return  # a comment that merely starts with a brace is not worth a warning
        if isinstance(record, dict) and len(_SETTING_KEYS & record.keys()) >= 2:
            findings.evidence += _record_evidence(kind, key, "generator", list(_model_fields(record)))


def _software(kind: str, key: str, text: str, findings: Findings) -> None:
    generator = ai_generator_in(text)
    if generator:
        findings.evidence.append(
            Evidence(kind, key, "fake", "moderate", generator=generator, value=excerpt(text))
        )
    elif text.strip():
        findings.evidence.append(Evidence(kind, key, "neutral", value=excerpt(text)))


def interpret_text(kind: str, key: str, text: str) -> Findings:
    """Evidence from one keyword/text pair (``kind`` says where it came from: png_text, exif, ...)."""
    findings = Findings()
    lowered = key.lower()
    if lowered == "parameters":
        _parameters(kind, key, text, findings)
    elif lowered in JSON_RECORD_KEYS:
        _json_record(kind, key, text, findings)
    elif lowered in MARKER_KEYS:
        tool = MARKER_KEYS[lowered]
        generator = "sdxl" if tool == "fooocus" else OTHER_AI
        findings.evidence.append(Evidence(kind, key, "fake", "strong", generator=generator, tool=tool))
    elif lowered in SOFTWARE_KEYS:
        _software(kind, key, text, findings)
    elif lowered in FREE_TEXT_KEYS:
        _free_text(kind, key, text, findings)
    return findings
