"""Stacking at request time: the deployed artifact, hot reload, refusals, missing detectors, warnings."""

from __future__ import annotations

import threading
import time

import pytest
import yaml

from gateway.fusion import FusionContext, Vote, stacking
from gateway.fusion.stacking import ArtifactWatcher, StackingStrategy, StackingUnavailable
from gateway.settings import DEFAULT_CONFIG_FILE, GatewaySettings
from meta_learner import artifacts
from support.meta_learning import save_fitted_artifact
from support.video import plain_video

DETECTORS = ("strong", "weak", "attr", "meta")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def ctx(tmp_path, **kw) -> FusionContext:
    return FusionContext(
        media_type="image",
        threshold=0.5,
        uncertainty_band=0.1,
        registered=DETECTORS,
        meta_learner_dir=tmp_path,
        **kw,
    )


def test_hot_reload_picks_up_a_new_version_and_keeps_serving_the_old_one_when_the_new_one_is_broken(tmp_path):
    clock = Clock()
    # Loads run where they are started, so each check's outcome is visible at once (the gateway's run in
    # a thread: test_a_reload_never_makes_a_request_wait below).
    watcher = ArtifactWatcher(tmp_path, "image", DETECTORS, clock=clock, run_load=lambda load: load())
    assert watcher.current() is None  # nothing deployed yet

    save_fitted_artifact(tmp_path, "v1")
    clock.now += 0.5
    assert watcher.current() is None  # checked at most once a second
    clock.now += 0.6
    assert watcher.current().version == "v1"

    save_fitted_artifact(tmp_path, "v2")
    clock.now += 1.1
    assert watcher.current().version == "v2"

    # v3 is deployed, then its model file is damaged before the gateway looks: refused, v2 still serves.
    v3 = save_fitted_artifact(tmp_path, "v3")
    (v3 / "model.skops").write_bytes(b"garbage")
    clock.now += 1.1
    learner = watcher.current()
    assert learner.version == "v2"
    assert "v3" not in learner.notes[0] or "refused" in learner.notes[0]
    assert "still serving image/v2" in learner.notes[0]

    # Fixed by a good v4: served, and the note is gone.
    save_fitted_artifact(tmp_path, "v4")
    clock.now += 1.1
    learner = watcher.current()
    assert (learner.version, learner.notes) == ("v4", ())


def test_an_artifact_that_does_not_match_the_registry_is_refused_and_stacking_says_why(tmp_path):
    save_fitted_artifact(tmp_path, "v1", detectors=("strong", "weak"))
    watcher = ArtifactWatcher(tmp_path, "image", DETECTORS)
    with pytest.raises(StackingUnavailable, match=r"does not match the registry.*\['attr', 'meta'\]"):
        watcher.current()
    result = StackingStrategy().run([Vote("strong", 0.9)], ctx(tmp_path))
    assert result.method.startswith("average (stacking unavailable: deployed meta-learner for image refused")
    assert "make retrain MEDIA_TYPE=image" in result.method


def test_stacking_uses_the_deployed_model_and_names_its_version(tmp_path):
    save_fitted_artifact(tmp_path, "20261122-031200")
    strategy = StackingStrategy()
    fake = strategy.run([Vote("strong", 0.95), Vote("weak", 0.8)], ctx(tmp_path))
    real = strategy.run([Vote("strong", 0.05), Vote("weak", 0.2)], ctx(tmp_path))
    assert fake.method == real.method == "stacking (image/20261122-031200)"
    assert fake.score_fake > 0.8 > 0.2 > real.score_fake
    assert (fake.verdict, real.verdict) == ("fake", "real")
    # The prediction is exactly the artifact's on the same observation: votes present, others missing.
    loaded = artifacts.load_deployed(tmp_path, "image")
    from meta_learner.features import DetectorScore

    expected = loaded.predict([{"strong": DetectorScore(0.95), "weak": DetectorScore(0.8)}])[0]
    assert fake.score_fake == pytest.approx(expected)


def test_class_probabilities_reach_the_model_and_version_changes_warn(tmp_path):
    save_fitted_artifact(tmp_path, "v1", versions=dict.fromkeys(DETECTORS, "1.0"))
    strategy = StackingStrategy()
    votes = [Vote("attr", 0.7)]
    a = strategy.run(votes, ctx(tmp_path, class_probs={"attr": {"real": 0.3, "flux": 0.7, "sim": 0.0}}))
    b = strategy.run(votes, ctx(tmp_path, class_probs={"attr": {"real": 0.3, "flux": 0.0, "sim": 0.7}}))
    assert a.score_fake != b.score_fake
    assert a.warnings == ()
    changed = strategy.run(votes, ctx(tmp_path, versions={"attr": "1.1"}))
    assert len(changed.warnings) == 1 and "attr answered as version 1.1" in changed.warnings[0]


# Through the gateway -------------------------------------------------------------------------------


def upload(data: bytes) -> dict:
    return {"file": ("photo.png", data, "image/png")}


async def test_detect_with_stacking_handles_abstaining_and_failing_detectors(
    fakes, gateway_client, gw, png, tmp_path
):
    save_fitted_artifact(
        tmp_path, "v1", versions={"strong": "1.2.3", "weak": "1.2.3", "attr": "1.2.3", "meta": "1.2.3"}
    )
    fakes.set("strong", fakes.ok(0.93))
    fakes.set("weak", fakes.ok(0.7))
    fakes.set("attr", fakes.ok(0.8, {"real": 0.2, "flux": 0.6, "sim": 0.2}))
    fakes.set("meta", fakes.abstain())
    async with gateway_client(gw.registry(*DETECTORS), meta_learner_dir=tmp_path) as client:
        body = (await client.post("/detect", files=upload(png), data={"ensemble_method": "stacking"})).json()
        assert body["method"] == "stacking (image/v1)"
        assert body["verdict"] == "fake" and body["score_fake"] > 0.8
        assert not any("version" in w for w in body["warnings"])

        fakes.set("strong", fakes.status(500))  # down: a missing feature, not an error of the request
        body = (await client.post("/detect", files=upload(png), data={"ensemble_method": "stacking"})).json()
        assert body["method"] == "stacking (image/v1)" and body["missing"] == ["strong"]
        assert 0 < body["score_fake"] < 1

        # The model only knows the four detectors: asking for two leaves the rest missing, still stacking.
        body = (
            await client.post(
                "/detect", files=upload(png), data={"ensemble_method": "stacking", "models": "weak"}
            )
        ).json()
        assert body["method"] == "stacking (image/v1)"


async def test_detect_warns_when_a_detector_version_differs_from_training(
    fakes, gateway_client, gw, png, tmp_path
):
    save_fitted_artifact(
        tmp_path, "v1", versions={"strong": "1.0.0", "weak": "1.2.3", "attr": "1.2.3", "meta": "1.2.3"}
    )
    for name in DETECTORS:
        fakes.set(name, fakes.ok(0.6))
    async with gateway_client(gw.registry(*DETECTORS), meta_learner_dir=tmp_path) as client:
        body = (await client.post("/detect", files=upload(png), data={"ensemble_method": "stacking"})).json()
    assert body["method"] == "stacking (image/v1)"
    assert any("strong answered as version 1.2.3" in w and "trained on 1.0.0" in w for w in body["warnings"])


async def test_detect_refuses_an_artifact_for_other_detectors_and_averages(
    fakes, gateway_client, gw, png, tmp_path
):
    save_fitted_artifact(tmp_path, "v1")
    fakes.set("x", fakes.ok(0.9))
    fakes.set("y", fakes.ok(0.7))
    async with gateway_client(gw.registry("x", "y"), meta_learner_dir=tmp_path) as client:
        body = (await client.post("/detect", files=upload(png), data={"ensemble_method": "stacking"})).json()
    assert body["method"].startswith("average (stacking unavailable: deployed meta-learner for image refused")
    assert body["score_fake"] == pytest.approx(0.8)


# The default method -------------------------------------------------------------------------------
# The repository's config makes stacking the default (meta_learner/README.md gives the evidence both
# ways); stacking uses the deployed meta-learner and falls back to averaging, saying so, where none is
# deployed or it does not match the registry.


def test_the_repository_config_makes_stacking_the_default_and_the_settings_fall_back_to_averaging():
    # Without a config file nothing says a meta-learner is meant to be served: averaging.
    assert GatewaySettings.model_fields["default_method"].default == "average"
    # The repository's config serves the deployed image meta-learner (meta_learner/README.md says why).
    assert yaml.safe_load(DEFAULT_CONFIG_FILE.read_text())["default_method"] == "stacking"


async def test_stacking_uses_the_image_artifact_and_video_without_one_averages_and_says_so(
    fakes, gateway_client, gw, png, tmp_path
):
    save_fitted_artifact(tmp_path, "v1")  # an image meta-learner only; no video one
    for name in DETECTORS:
        fakes.set(name, fakes.ok(0.9))
    fakes.set("vid", fakes.ok(0.8))
    registry = gw.registry(*DETECTORS, "vid", vid={"media_types": ["video"]})
    async with gateway_client(registry, meta_learner_dir=tmp_path, default_method="stacking") as client:
        image = (await client.post("/detect", files=upload(png))).json()
        clip = {"file": ("clip.mp4", plain_video(n=6), "application/octet-stream")}
        video = (await client.post("/detect", files=clip)).json()
    assert image["method"] == "stacking (image/v1)"
    assert video["media_type"] == "video"
    assert video["method"] == "average (stacking unavailable: no deployed meta-learner for video)"
    assert video["score_fake"] == pytest.approx(0.8)


async def test_loading_the_meta_learner_never_blocks_other_requests(
    fakes, gateway_client, gw, png, monkeypatch
):
    """The first stacking request after a start (or a redeploy) loads the artifact from disk, which took
    seconds in the soak; meanwhile /health and other requests must still be answered (issue 13's soak)."""
    import asyncio

    from gateway.fusion import stacking

    def slow_load(self):
        time.sleep(1.5)  # a blocking load, as load_artifact is
        return None

    monkeypatch.setattr(stacking.ArtifactWatcher, "current", slow_load)
    fakes.set("a", fakes.ok(0.9))
    async with gateway_client(gw.registry("a")) as client:
        detect = asyncio.create_task(
            client.post(
                "/detect",
                files={"file": ("x.png", png, "image/png")},
                data={"ensemble_method": "stacking"},
            )
        )
        started = time.perf_counter()  # a blocked event loop would hold the sleep and /health alike
        await asyncio.sleep(0.2)  # the detection is now fusing
        health = await client.get("/health")
        waited = time.perf_counter() - started - 0.2
        answer = await detect
    assert health.status_code == 200
    assert waited < 0.5, f"/health waited {waited:.2f} s behind a meta-learner load"
    assert answer.status_code == 200 and answer.json()["method"].startswith("average (stacking unavailable")


# Loads off the request path ------------------------------------------------------------------------


def slow_loads(monkeypatch, release: threading.Event) -> list[str]:
    """Every artifact load from now on waits for ``release``; returns the versions whose load began."""
    began: list[str] = []
    load = stacking.load_artifact

    def slow(root, media_type, version):
        began.append(version)
        release.wait(10)
        return load(root, media_type, version)

    monkeypatch.setattr(stacking, "load_artifact", slow)
    return began


def wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_reload_never_makes_a_request_wait(tmp_path, monkeypatch):
    save_fitted_artifact(tmp_path, "v1")
    clock = Clock()
    watcher = ArtifactWatcher(tmp_path, "image", DETECTORS, clock=clock)
    watcher.preload()
    assert watcher.current().version == "v1"  # the first load is the only one ever waited for

    release = threading.Event()
    began = slow_loads(monkeypatch, release)
    save_fitted_artifact(tmp_path, "v2")
    clock.now += 1.1
    started = time.perf_counter()
    assert watcher.current().version == "v1"  # starts loading v2, and answers with v1 meanwhile
    wait_for(lambda: began == ["v2"])
    assert watcher.current().version == "v1"
    assert time.perf_counter() - started < 1.0
    release.set()
    wait_for(lambda: watcher.current().version == "v2")
    assert began == ["v2"]  # checks during the load did not start another one


async def test_the_meta_learner_loads_at_start_up_and_a_slow_reload_blocks_no_request(
    fakes, gateway_client, gw, png, tmp_path, monkeypatch
):
    import asyncio

    save_fitted_artifact(tmp_path, "v1")
    release = threading.Event()
    release.set()  # v1 loads at full speed
    began = slow_loads(monkeypatch, release)
    for name in DETECTORS:
        fakes.set(name, fakes.ok(0.9))
    stack = {"ensemble_method": "stacking"}
    registry = gw.registry(*DETECTORS)
    async with gateway_client(registry, meta_learner_dir=tmp_path, default_method="stacking") as client:
        await asyncio.to_thread(wait_for, lambda: began == ["v1"])  # before any request: at start-up
        body = (await client.post("/detect", files=upload(png), data=stack)).json()
        assert body["method"] == "stacking (image/v1)"

        release.clear()  # v2's load takes until the end of the test
        save_fitted_artifact(tmp_path, "v2")
        await asyncio.sleep(1.1)  # the pointer is checked at most once a second
        started = time.perf_counter()
        first, second, health = await asyncio.gather(
            client.post("/detect", files=upload(png), data=stack),
            client.post("/detect", files=upload(png), data=stack),
            client.get("/health"),
        )
        waited = time.perf_counter() - started
        await asyncio.to_thread(wait_for, lambda: began == ["v1", "v2"])  # the first request began v2's load
        assert health.status_code == 200
        assert [first.json()["method"], second.json()["method"]] == ["stacking (image/v1)"] * 2
        assert waited < 2.0, f"requests waited {waited:.2f} s behind a meta-learner load"

        release.set()
        deadline = time.monotonic() + 10
        while body["method"] != "stacking (image/v2)" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            body = (await client.post("/detect", files=upload(png), data=stack)).json()
        assert body["method"] == "stacking (image/v2)"


async def test_a_gateway_that_averages_by_default_loads_the_meta_learner_on_first_use(
    fakes, gateway_client, gw, png, tmp_path, monkeypatch
):
    """Its libraries cost 70-580 MB: a gateway that averages by default loads them only when asked."""
    save_fitted_artifact(tmp_path, "v1")
    release = threading.Event()
    release.set()
    began = slow_loads(monkeypatch, release)
    for name in DETECTORS:
        fakes.set(name, fakes.ok(0.9))
    async with gateway_client(gw.registry(*DETECTORS), meta_learner_dir=tmp_path) as client:
        assert (await client.post("/detect", files=upload(png))).json()["method"] == "average"
        assert began == []
        body = (await client.post("/detect", files=upload(png), data={"ensemble_method": "stacking"})).json()
        assert body["method"] == "stacking (image/v1)" and began == ["v1"]
