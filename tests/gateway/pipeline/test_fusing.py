"""One request's fusion: arithmetic strategies on the event loop, a model's forward pass in a thread."""

from __future__ import annotations

import threading

import pytest

from gateway.fusion import get_strategy
from gateway.pipeline.fusing import Fusion, fusion_context
from tribunal_sdk.client import DetectorOutcome, DetectorStatus


@pytest.mark.parametrize(
    ("method", "on_the_loop"), [("average", True), ("voting", True), ("stacking", False)]
)
async def test_only_a_strategy_that_runs_a_model_leaves_the_event_loop(gw, method, on_the_loop):
    fusion = Fusion(get_strategy(method), 0.5, gw.settings(), gw.registry("a"), {"a": 1.0})
    thread = await fusion.call(threading.get_ident)
    assert (thread == threading.get_ident()) is on_the_loop


def test_votes_and_context_leave_abstentions_and_failures_out(gw):
    outcomes = [
        DetectorOutcome(name="a", status=DetectorStatus.OK, prob_fake=0.8, version="1", class_probs={"real": 0.2, "flux": 0.8}),
        DetectorOutcome(name="b", status=DetectorStatus.ABSTAINED, abstained=True, reason="no_evidence", version="2"),
        DetectorOutcome(name="c", status=DetectorStatus.TIMEOUT, error="slow"),
    ]  # fmt: skip
    settings, registry = gw.settings(), gw.registry("a", "b", "c")
    fusion = Fusion(get_strategy("average"), 0.6, settings, registry, {"a": 2.0, "b": 1.0, "c": 1.0})
    assert [(v.detector, v.prob_fake, v.weight) for v in fusion.votes(outcomes)] == [("a", 0.8, 2.0)]
    ctx = fusion.context("image", outcomes)
    assert ctx == fusion_context(settings, registry, "image", 0.6, outcomes)
    assert (ctx.threshold, ctx.absent, ctx.registered) == (0.6, ("b", "c"), ("a", "b", "c"))
    assert ctx.class_probs == {"a": {"real": 0.2, "flux": 0.8}} and ctx.versions == {"a": "1", "b": "2"}
    assert fusion.attribution(0.8, outcomes).predicted_source == "flux"
