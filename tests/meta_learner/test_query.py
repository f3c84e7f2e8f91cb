"""Benchmark files through the fan-out client: the cache keyed by file sha256, detector and fingerprint."""

from __future__ import annotations

import pytest

from gateway.registry import DetectorEntry
from meta_learner.dataset import read_manifest
from meta_learner.query import FeatureCache, Fingerprint, collect, probe_all, read_observations
from support.tiny_benchmark import make_tiny_benchmark
from tribunal_sdk.client import FanoutClient


def entry(name: str, port: int) -> DetectorEntry:
    return DetectorEntry(name=name, url=f"http://{name}", port=port, media_types=["image"], timeout_s=2.0)


ENTRIES = [entry("alpha", 9001), entry("beta", 9002), entry("meta", 9003)]


@pytest.fixture
def items(tmp_path):
    return read_manifest(make_tiny_benchmark(tmp_path / "bench", {"train": 2, "val": 2, "test": 1}))


async def run_collect(network, items, cache):
    async with FanoutClient(transport=network.transport()) as fanout:
        probes = await probe_all(fanout, ENTRIES)
        fingerprints = [Fingerprint.from_probe(p) for p in probes.values() if p.ready]
        shas, stats = await collect(items, "image", ENTRIES, fingerprints, fanout, cache, progress=False)
    return fingerprints, shas, stats


async def test_second_run_queries_nothing_and_a_new_version_requeries_only_that_detector(
    network, items, tmp_path
):
    network.add("alpha")
    network.add("beta", task="attribution", classes=["real", "flux", "sim_nearest_conv"])
    network.add("meta", mode="abstain")
    network.add_files(items)
    with FeatureCache(tmp_path / "cache.sqlite") as cache:
        fingerprints, shas, stats = await run_collect(network, items, cache)
        n = len(items)
        assert network.calls == {"alpha": n, "beta": n, "meta": n}
        assert stats.abstained["meta"] == n and not stats.failed
        assert {f.name: f.classes for f in fingerprints}["beta"] == ["flux", "sim_nearest_conv"]

        network.calls.clear()
        _, _, stats = await run_collect(network, items, cache)
        assert network.calls == {}  # everything came from the cache
        assert stats.cached == {"alpha": n, "beta": n, "meta": n}

        network.services["alpha"].version = "1.1.0"
        _, _, stats = await run_collect(network, items, cache)
        assert network.calls == {"alpha": n}

        # New weights under the same version are a new fingerprint too.
        network.calls.clear()
        network.services["beta"].weights_sha256 = "b" * 64
        await run_collect(network, items, cache)
        assert network.calls == {"beta": n}

        observations, uncached = read_observations(shas, fingerprints, cache)
        assert not uncached
        assert all(set(o) == {"alpha", "beta"} for o in observations)  # meta abstained: absent
        assert all(o["beta"].class_probs and "flux" in o["beta"].class_probs for o in observations)


async def test_failures_are_not_cached_and_are_asked_again(network, items, tmp_path):
    network.add("alpha")
    network.add("beta", mode="error")
    network.add("meta")
    network.add_files(items)
    with FeatureCache(tmp_path / "cache.sqlite") as cache:
        _, _, stats = await run_collect(network, items, cache)
        assert stats.failed["beta"] == len(items) and "500" in stats.first_error["beta"]
        network.services["beta"].mode = "ok"
        network.calls.clear()
        await run_collect(network, items, cache)
        assert network.calls == {"beta": len(items)}


async def test_a_detector_that_is_not_ready_is_not_asked(network, items, tmp_path):
    network.add("alpha")
    network.add("beta", ready=False)
    network.add("meta")
    network.add_files(items)
    with FeatureCache(tmp_path / "cache.sqlite") as cache:
        fingerprints, _, _ = await run_collect(network, items, cache)
    assert sorted(f.name for f in fingerprints) == ["alpha", "meta"]
    assert network.calls["beta"] == 0


def test_fingerprint_key_changes_with_version_and_weights():
    base = Fingerprint(name="a", version="1.0", weights_sha256=["x" * 64])
    assert base.key.startswith("1.0+")
    assert base.key != Fingerprint(name="a", version="1.1", weights_sha256=["x" * 64]).key
    assert base.key != Fingerprint(name="a", version="1.0", weights_sha256=["y" * 64]).key
    assert Fingerprint(name="a", version="1.0").key == "1.0"
