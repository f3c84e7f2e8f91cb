"""The detection use-case: validate an upload, ask the right detectors, fuse, answer.

Transport-free: the HTTP routes and the batch-job runner call ``DetectionPipeline.detect`` with bytes.
Every upload takes the same steps (gateway/pipeline/, whose docstring lists them); the plan of its media
type (``ImagePlan``, ``VideoPlan``) says which detectors get which input and how their answers are fused.
No step blocks the event loop: decoding, hashing and video inspection run in worker threads, fusion runs
inline unless its strategy runs a model (stacking, in a worker thread), and a deployed meta-learner is
loaded at start-up when stacking is the default, and reloaded in the background (gateway/fusion/stacking.py).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from gateway.errors import MalformedRequest, UnknownModels
from gateway.fusion import get_strategy
from gateway.pipeline.answer import build_answer
from gateway.pipeline.checks import require_answers
from gateway.pipeline.fusing import Fusion, warm_up
from gateway.pipeline.image import ImagePlan
from gateway.pipeline.plan import MediaPlan
from gateway.pipeline.selection import select
from gateway.pipeline.upload import check_upload
from gateway.pipeline.video import VideoPlan
from gateway.registry import Registry
from gateway.schemas import DetectionAnswer
from gateway.settings import GatewaySettings
from tribunal_sdk.client import FanoutClient
from tribunal_sdk.memory import MemoryBudget, MemorySettings, tune_allocator


@dataclass(frozen=True)
class DetectionOptions:
    """The per-request knobs of /detect and /predict; None means "use the gateway default"."""

    method: str | None = None
    models: list[str] | None = None
    threshold: float | None = None
    explain: bool = False
    claimed_media_type: str | None = None  # /predict's media_type: checked, never trusted


class DetectionPipeline:
    """Runs one detection: the gateway's core, independent of HTTP."""

    def __init__(
        self,
        settings: GatewaySettings,
        registry: Registry,
        fanout: FanoutClient,
        memory: MemoryBudget | None = None,
    ):
        self.settings = settings
        self.registry = registry
        self.fanout = fanout
        tune_allocator()  # before any worker thread starts
        self.memory = memory or MemorySettings().budget(name="gateway")
        self.plans: dict[str, MediaPlan] = {
            "image": ImagePlan(registry, fanout, settings.media_limits, self.memory),
            "video": VideoPlan(registry, fanout, settings.video),
        }
        warm_up(settings, registry)  # with stacking the default: starts loading the meta-learners

    async def detect(
        self, data: bytes, options: DetectionOptions, request_id: str | None = None
    ) -> DetectionAnswer:
        """Analyse ``data``. Raises a TribunalError (4xx/503) when there is no answer to give."""
        started = time.perf_counter()
        # Cheap request checks first, so a bad option is reported before any decoding work.
        strategy = get_strategy(options.method or self.settings.default_method)
        threshold = self.settings.threshold if options.threshold is None else options.threshold
        if not 0 < threshold < 1:
            raise MalformedRequest(f"threshold must be between 0 and 1 (exclusive), got {threshold}")
        if options.models:
            unknown = [name for name in options.models if self.registry.get(name) is None]
            if unknown:
                raise UnknownModels(unknown, self.registry.names)

        upload = await check_upload(data, options.claimed_media_type, self.settings.media_limits)
        plan = self.plans[upload.media_type]
        async with plan.admitted(upload):
            sha256 = await asyncio.to_thread(plan.fingerprint, upload)
            selection = select(self.registry, plan, options.models)
            gathered = await plan.gather(upload, selection.asked, options.explain, request_id)
            require_answers(selection.entries, gathered.outcomes, plan.nobody_answered)
            fusion = Fusion(strategy, threshold, self.settings, self.registry, selection.weights)
            fused = await plan.fuse(gathered, fusion)
            return build_answer(
                sha256=sha256,
                media_type=upload.media_type,
                threshold=threshold,
                selection=selection,
                gathered=gathered,
                fused=fused,
                attribution=fusion.attribution(fused.result.score_fake, gathered.outcomes),
                started=started,
            )
