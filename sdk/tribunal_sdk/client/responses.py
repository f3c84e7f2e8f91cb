"""A detector's HTTP answer to ``POST /predict``, ``GET /ready`` and ``GET /info``, read as the caller sees it.

Nothing a detector sends is trusted: a body that is not a valid ``PredictResponse``, an abstention that
also gives a score, or a score outside [0, 1] is an ``error`` outcome, and class probabilities that are
not a distribution are dropped with a warning.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import ValidationError

from tribunal_sdk.client.outcomes import DetectorOutcome, DetectorStatus
from tribunal_sdk.result import PredictResponse

# How much of a detector's error body we keep in an outcome (bodies can be HTML error pages).
_MAX_ERROR_TEXT = 300


def json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def ready_from_response(response: httpx.Response) -> tuple[bool, str | None]:
    """``GET /ready``: ready on 200; otherwise the reason the detector gave, or its HTTP status."""
    if response.status_code == 200:
        return True, None
    body = json_or_none(response)
    reason = None
    if isinstance(body, dict):
        reason = body.get("reason") or body.get("detail") or body.get("status")
    return False, str(reason) if reason else f"/ready answered HTTP {response.status_code}"


def info_from_response(response: httpx.Response) -> dict[str, Any] | None:
    """``GET /info``: the JSON object on 200, else None."""
    body = json_or_none(response)
    return body if response.status_code == 200 and isinstance(body, dict) else None


def _error_text(content: bytes) -> str:
    try:
        body = json.loads(content)
    except ValueError:
        body = None
    if isinstance(body, dict) and ("detail" in body or "error" in body):
        text = ": ".join(str(body[k]) for k in ("error", "detail") if body.get(k))
    else:
        text = content.decode("utf-8", errors="replace")
    text = " ".join(text.split())
    return text[:_MAX_ERROR_TEXT] + ("…" if len(text) > _MAX_ERROR_TEXT else "")


def outcome_from_response(name: str, response: httpx.Response) -> DetectorOutcome:
    """The outcome of detector ``name``'s answer to ``POST /predict`` (its round trip is timed by the caller)."""
    return outcome_from_answer(name, response.status_code, response.content)


def outcome_from_answer(name: str, code: int, content: bytes) -> DetectorOutcome:
    """``outcome_from_response`` from the answer's status and body alone."""
    if code == 503:
        return DetectorOutcome(
            name=name,
            status=DetectorStatus.UNAVAILABLE,
            http_status=code,
            error=f"not ready (HTTP 503): {_error_text(content)}",
        )
    if not 200 <= code < 300:
        return DetectorOutcome(
            name=name,
            status=DetectorStatus.ERROR,
            http_status=code,
            error=f"HTTP {code}: {_error_text(content)}",
        )
    try:
        answer = PredictResponse.model_validate_json(content)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "body"
        return DetectorOutcome(
            name=name,
            status=DetectorStatus.ERROR,
            http_status=code,
            error=f"invalid answer ({exc.error_count()} problem(s); {where}: {problem['msg']})",
        )
    return _outcome_from_answer(name, answer, code)


def _outcome_from_answer(name: str, answer: PredictResponse, code: int) -> DetectorOutcome:
    warnings = list(answer.warnings)
    if answer.detector != name:
        warnings.append(f"answered as {answer.detector!r}, registered as {name!r}")
    common = {
        "name": name,
        "version": answer.version,
        "heatmap_png": answer.heatmap_png,
        "details": answer.details,
        "warnings": warnings,
        "reason": answer.reason,
        "http_status": code,
    }
    if answer.abstained:
        if answer.prob_fake is not None:
            return DetectorOutcome(
                **{**common, "heatmap_png": None},
                status=DetectorStatus.ERROR,
                error="invalid answer: abstained but also gave prob_fake",
            )
        return DetectorOutcome(**common, status=DetectorStatus.ABSTAINED, abstained=True)
    if answer.prob_fake is None or not 0.0 <= answer.prob_fake <= 1.0:
        return DetectorOutcome(
            **{**common, "heatmap_png": None},
            status=DetectorStatus.ERROR,
            error=f"invalid answer: prob_fake must be in [0, 1] unless abstaining, got {answer.prob_fake}",
        )
    class_probs = answer.class_probs
    if class_probs is not None:
        total = sum(class_probs.values())
        if any(not 0.0 <= p <= 1.0 for p in class_probs.values()) or abs(total - 1.0) > 1e-3:
            warnings.append(f"class_probs ignored: not a probability distribution (sum {total:.4f})")
            class_probs = None
    return DetectorOutcome(
        **common, status=DetectorStatus.OK, prob_fake=answer.prob_fake, class_probs=class_probs
    )
