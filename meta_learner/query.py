"""Benchmark files through the fan-out client the gateway uses (``tribunal_sdk.client``), every answer cached.

The cache (SQLite, one file per media type under data/meta_learner/cache/) is keyed by the file's
sha256, the detector's name and its *fingerprint*: the version from its /info plus the sha256 of its
weight files, so retrained weights re-query even when nobody bumped the version. A rerun asks the
detectors only for what is not cached under their current fingerprint. Answers (scores and
abstentions) are cached; failures (timeouts, errors) are not, so the next run retries them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from tqdm import tqdm

from meta_learner.dataset import BenchmarkItem
from meta_learner.features import DetectorScore, Observation, attribution_classes
from tribunal_sdk.client import DetectorEndpoint, DetectorOutcome, DetectorStatus, FanoutClient, ProbeResult


class Fingerprint(BaseModel):
    """What identifies a detector's behaviour: its version and the weights it serves."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    weights_sha256: list[str] = []
    classes: list[str] = []  # attribution feature classes from /info (empty for binary detectors)

    @property
    def key(self) -> str:
        if not self.weights_sha256:
            return self.version
        digest = hashlib.sha256("|".join(sorted(self.weights_sha256)).encode()).hexdigest()
        return f"{self.version}+{digest[:12]}"

    @classmethod
    def from_probe(cls, probe: ProbeResult) -> Fingerprint:
        info = probe.info or {}
        weights = info.get("weights") or []
        shas = [str(w["sha256"]) for w in weights if isinstance(w, dict) and w.get("sha256")]
        return cls(
            name=probe.name,
            version=str(info.get("version") or "unknown"),
            weights_sha256=shas,
            classes=attribution_classes(info),
        )


class CachedAnswer(BaseModel):
    """One stored detector answer: a score, or an abstention."""

    status: str  # "ok" | "abstained"
    prob_fake: float | None = None
    class_probs: dict[str, float] | None = None
    reason: str | None = None

    def usable(self) -> DetectorScore | None:
        if self.status != DetectorStatus.OK or self.prob_fake is None:
            return None
        return DetectorScore(self.prob_fake, self.class_probs)


class FeatureCache:
    """SQLite store of detector answers keyed by (file sha256, detector, fingerprint key)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS answers (
                sha256 TEXT NOT NULL, detector TEXT NOT NULL, fingerprint TEXT NOT NULL,
                answer TEXT NOT NULL, stored_at TEXT NOT NULL,
                PRIMARY KEY (sha256, detector, fingerprint));
            CREATE TABLE IF NOT EXISTS collections (
                id INTEGER PRIMARY KEY AUTOINCREMENT, media_type TEXT NOT NULL,
                fingerprints TEXT NOT NULL, collected_at TEXT NOT NULL);
            """
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, sha256: str, detector: str, fingerprint: str) -> CachedAnswer | None:
        row = self._db.execute(
            "SELECT answer FROM answers WHERE sha256 = ? AND detector = ? AND fingerprint = ?",
            (sha256, detector, fingerprint),
        ).fetchone()
        return CachedAnswer.model_validate_json(row[0]) if row else None

    def put(self, sha256: str, detector: str, fingerprint: str, answer: CachedAnswer) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
            (sha256, detector, fingerprint, answer.model_dump_json(), datetime.now(UTC).isoformat()),
        )

    def commit(self) -> None:
        self._db.commit()

    def record_collection(self, media_type: str, fingerprints: Sequence[Fingerprint]) -> None:
        """Remember which fingerprints the last full collection used (``make eval`` reads them back)."""
        payload = json.dumps([f.model_dump() for f in fingerprints])
        self._db.execute(
            "INSERT INTO collections (media_type, fingerprints, collected_at) VALUES (?, ?, ?)",
            (media_type, payload, datetime.now(UTC).isoformat()),
        )
        self._db.commit()

    def latest_collection(self, media_type: str) -> list[Fingerprint] | None:
        row = self._db.execute(
            "SELECT fingerprints FROM collections WHERE media_type = ? ORDER BY id DESC LIMIT 1",
            (media_type,),
        ).fetchone()
        return [Fingerprint.model_validate(f) for f in json.loads(row[0])] if row else None


@dataclass
class CollectStats:
    """What one collection did, per detector."""

    queried: Counter[str] = field(default_factory=Counter)
    cached: Counter[str] = field(default_factory=Counter)
    abstained: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    first_error: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        names = sorted(set(self.queried) | set(self.cached) | set(self.failed))
        return {
            name: {
                "queried": self.queried[name],
                "cached": self.cached[name],
                "abstained": self.abstained[name],
                "failed": self.failed[name],
                **({"first_error": self.first_error[name]} if name in self.first_error else {}),
            }
            for name in names
        }


async def probe_all(fanout: FanoutClient, entries: Sequence[DetectorEndpoint]) -> dict[str, ProbeResult]:
    """/ready and /info of every entry, concurrently."""
    probes = await asyncio.gather(*(fanout.probe(entry) for entry in entries))
    return {probe.name: probe for probe in probes}


async def collect(
    items: Sequence[BenchmarkItem],
    media_type: str,
    entries: Sequence[DetectorEndpoint],
    fingerprints: Sequence[Fingerprint],
    fanout: FanoutClient,
    cache: FeatureCache,
    concurrency: int = 8,
    progress: bool = True,
) -> tuple[list[str], CollectStats]:
    """Make sure the cache holds every (file, detector) answer for the given fingerprints.

    Only entries with a fingerprint are asked (a detector that was not ready has none). Returns the
    files' sha256s (in ``items`` order) and what was queried, found cached, abstained or failed.
    """
    by_name = {entry.name: entry for entry in entries}
    current = {f.name: f for f in fingerprints if f.name in by_name}
    stats = CollectStats()
    shas: list[str] = [""] * len(items)
    semaphore = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(items), desc=f"querying detectors ({media_type})", unit="file", disable=not progress)

    async def one(index: int, item: BenchmarkItem) -> None:
        async with semaphore:
            data = await asyncio.to_thread(item.path.read_bytes)
            sha = hashlib.sha256(data).hexdigest()
            shas[index] = sha
            needed = []
            for name, fingerprint in current.items():
                if cache.get(sha, name, fingerprint.key) is None:
                    needed.append(by_name[name])
                else:
                    stats.cached[name] += 1
            if needed:
                outcomes = await fanout.predict_all(data, media_type, needed)
                for outcome in outcomes:
                    _store(cache, sha, current[outcome.name], outcome, stats)
            bar.update(1)

    try:
        await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
    finally:
        bar.close()
        cache.commit()
    return shas, stats


def _store(
    cache: FeatureCache, sha: str, fingerprint: Fingerprint, outcome: DetectorOutcome, stats: CollectStats
) -> None:
    name = outcome.name
    stats.queried[name] += 1
    if outcome.answered and outcome.version != fingerprint.version:
        # The detector was redeployed mid-run: its answer belongs to neither fingerprint we know.
        outcome = outcome.model_copy(
            update={
                "status": DetectorStatus.ERROR,
                "error": f"answered as version {outcome.version}, /info said {fingerprint.version}: rerun",
            }
        )
    if not outcome.answered:
        stats.failed[name] += 1
        stats.first_error.setdefault(name, f"{outcome.status.value}: {outcome.error}")
        return
    if outcome.status == DetectorStatus.ABSTAINED:
        stats.abstained[name] += 1
    answer = CachedAnswer(
        status=outcome.status.value,
        prob_fake=outcome.prob_fake,
        class_probs=outcome.class_probs,
        reason=outcome.reason,
    )
    cache.put(sha, name, fingerprint.key, answer)


def read_observations(
    shas: Sequence[str], fingerprints: Sequence[Fingerprint], cache: FeatureCache
) -> tuple[list[Observation], Counter[str]]:
    """Each file's usable answers from the cache, and per detector how many files have no cached answer."""
    observations: list[Observation] = []
    uncached: Counter[str] = Counter()
    for sha in shas:
        observation: dict[str, DetectorScore] = {}
        for fingerprint in fingerprints:
            cached = cache.get(sha, fingerprint.name, fingerprint.key)
            if cached is None:
                uncached[fingerprint.name] += 1
                continue
            answer = cached.usable()
            if answer is not None:
                observation[fingerprint.name] = answer
        observations.append(observation)
    return observations, uncached
