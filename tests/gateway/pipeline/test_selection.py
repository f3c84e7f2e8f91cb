"""Selection and the answer check are the same for every media type; only the plan's words differ."""

from __future__ import annotations

import pytest

from gateway.errors import HardDependencyFailed, NoDetectorAvailable, NoDetectorForMediaType, NoModelSelected
from gateway.pipeline.checks import require_answers
from gateway.pipeline.image import ImagePlan
from gateway.pipeline.selection import select
from gateway.pipeline.video import VideoPlan
from gateway.video.settings import VideoSettings
from tribunal_sdk.client import DetectorOutcome, DetectorStatus


def plans(registry, keyframes: int = 6):
    return ImagePlan(registry, None, None, None), VideoPlan(
        registry, None, VideoSettings(keyframes=keyframes)
    )


def test_a_video_is_judged_by_video_detectors_and_the_other_image_detectors_see_its_keyframes(gw):
    registry = gw.registry(
        "img", "vid", "both", vid={"media_types": ["video"]}, both={"media_types": ["image", "video"]}
    )
    image, video = plans(registry)
    assert {k: [e.name for e in g] for k, g in select(registry, image, None).asked.items()} == {
        "image": ["img", "both"]
    }
    assert {k: [e.name for e in g] for k, g in select(registry, video, None).asked.items()} == {
        "video": ["vid", "both"], "keyframes": ["img"],
    }  # fmt: skip
    _, no_keyframes = plans(registry, keyframes=0)
    assert select(registry, no_keyframes, None).asked["keyframes"] == []


def test_models_narrow_the_groups_and_say_why_a_model_was_not_asked(gw):
    registry = gw.registry("img", "vid", "off", vid={"media_types": ["video"]}, off={"enabled": False})
    image, _ = plans(registry)
    selection = select(registry, image, ["img", "vid", "off"])
    assert [e.name for e in selection.entries] == ["img"] and selection.skipped == []
    assert selection.notes == [
        "vid was not asked: it handles video only",
        "off was not asked: it is disabled",
    ]
    with pytest.raises(NoModelSelected, match="none of the requested models can analyse this image"):
        select(registry, image, ["vid"])
    nothing_enabled = gw.registry("img", img={"enabled": False})
    _, video = plans(nothing_enabled)
    with pytest.raises(NoDetectorForMediaType, match="no enabled detector handles video, and none"):
        select(nothing_enabled, video, None)


def test_no_answer_or_a_failed_hard_dependency_is_a_503_naming_each_detector(gw):
    registry = gw.registry("a", "b", b={"dependency": "hard"})
    ok = DetectorOutcome(name="a", status=DetectorStatus.OK, prob_fake=0.5)
    down = DetectorOutcome(name="b", status=DetectorStatus.UNAVAILABLE, error="refused")
    with pytest.raises(
        NoDetectorAvailable, match=r"^no detector for image could answer: b \(unavailable: refused\)"
    ):
        require_answers(registry.detectors, [down], ImagePlan.nobody_answered)
    with pytest.raises(HardDependencyFailed, match=r"required detector\(s\) failed: b"):
        require_answers(registry.detectors, [ok, down], ImagePlan.nobody_answered)
    require_answers(registry.detectors[:1], [ok], ImagePlan.nobody_answered)
