"""The HTTP service every detector gets: the contract in DESIGN.md, built around a Detector object."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tribunal_sdk.batching import MicroBatcher
from tribunal_sdk.detector import Detector, ImageDetector
from tribunal_sdk.errors import InferenceFailed, TribunalError, UnsupportedMediaType
from tribunal_sdk.heatmap import to_base64_png
from tribunal_sdk.logs import RequestLogMiddleware
from tribunal_sdk.media import (
    ImageHeader,
    ImageInput,
    Sniffed,
    VideoInput,
    decode_image,
    read_header,
    sha256_hex,
    sniff,
    verify_image,
)
from tribunal_sdk.memory import release_after, tune_allocator
from tribunal_sdk.metrics import ServiceMetrics
from tribunal_sdk.model_state import ModelState
from tribunal_sdk.requests import Upload, read_upload
from tribunal_sdk.result import Prediction, PredictResponse
from tribunal_sdk.settings import ServiceSettings
from tribunal_sdk.upload_limit import UploadLimitMiddleware

log = logging.getLogger("tribunal.sdk")

_TRUE = {"1", "true", "yes", "on"}
# Room for multipart boundaries and form fields around the file itself.
_ENVELOPE_BYTES = 64 * 1024


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as ``{"error": code, "detail": message}``; shared with the gateway."""

    @app.exception_handler(TribunalError)
    async def _tribunal_error(_: Request, exc: TribunalError) -> JSONResponse:
        # Some errors carry headers, e.g. Retry-After on the memory budget's 503.
        return JSONResponse(exc.to_body(), status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "malformed_request", "detail": str(exc.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": code, "detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            {"error": "internal_error", "detail": f"{type(exc).__name__}: {exc}"}, status_code=500
        )


class DetectorHost:
    """Wires one Detector to its batcher, load state and metrics. One instance per process."""

    def __init__(self, detector: Detector, settings: ServiceSettings):
        self.detector = detector
        self.settings = settings
        self.limits = settings.media_limits()
        # Admission by decoded bytes: large images queue briefly or get 503 + Retry-After (memory.py).
        self.budget = settings.budget(name=f"{detector.spec.name} service")
        self.reads_pixels = not isinstance(detector, ImageDetector) or detector.reads_pixels
        # One worker thread per model: load(), predict_batch() and explain() all run on it, so a
        # detector never sees concurrent calls and the event loop never blocks on inference.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{detector.spec.name}-model")
        self.state = ModelState(detector, self.executor, cpu_threads=settings.cpu_threads)
        self.metrics = ServiceMetrics(detector.spec.name)
        batching = detector.spec.batching
        self.batcher: MicroBatcher[Any, Prediction] = MicroBatcher(
            self._predict_batch,
            max_batch_size=settings.max_batch_size or batching.max_batch_size,
            max_delay_s=(
                settings.max_delay_ms if settings.max_delay_ms is not None else batching.max_delay_ms
            )
            / 1000,
            executor=self.executor,
            on_batch=self.metrics.observe_batch,
        )

    def _predict_batch(self, items: list[Any]) -> list[Prediction]:
        results = self.detector.predict_batch(items)
        return [r if isinstance(r, Prediction) else Prediction.model_validate(r) for r in results]

    def info(self) -> dict[str, Any]:
        spec = self.detector.spec
        weights = [w.model_dump() for w in spec.weights]
        info: dict[str, Any] = {
            "name": spec.name,
            "version": spec.version,
            "description": spec.description,
            "media_types": spec.media_types,
            "task": spec.task,
            "classes": spec.classes,
            "backbone": spec.backbone,
            "weights": weights,
            "device": self.detector.device,
            "max_batch_size": self.batcher.max_batch_size,
            "max_delay_ms": self.batcher.max_delay_s * 1000,
            "input_size": spec.input_size,
            "load_mode": self.settings.load_mode,
            "status": self.state.status,
        }
        if self.state.ready:
            info.update(self.detector.runtime_info())
        return info

    async def admit(self, data: bytes) -> tuple[Sniffed, ImageHeader | None, int]:
        """Cheap checks before any decoding (byte cap, type, pixel cap from the headers) and the bytes the
        request will hold once decoded: its weight in the memory budget. No header for a video.

        What the checks find travels on to ``decode`` (or the video's spool), so nothing sniffs or reads
        the headers twice."""
        self.limits.check_size(len(data))
        sniffed = sniff(data)
        if sniffed.media_type not in self.detector.spec.media_types:
            raise UnsupportedMediaType(
                f"{self.detector.spec.name} handles {', '.join(self.detector.spec.media_types)}, "
                f"not {sniffed.media_type} ({sniffed.format})"
            )
        if sniffed.media_type != "image":
            return sniffed, None, 0  # spooled to a file; the video decoder streams frames from it
        header = await asyncio.to_thread(read_header, data, sniffed, self.limits)
        pixels = header.decoded_bytes if self.reads_pixels else header.check_bytes
        return sniffed, header, pixels + len(data)

    async def decode(self, data: bytes, header: ImageHeader) -> ImageInput:
        """The input for predict_batch, from an image ``admit`` let in: pixels decoded once, at native
        resolution (the detectors analyse native-pixel crops), or, for a detector that reads no pixels, the
        upload checked to decode without holding them. Either way the bytes are hashed here, once: nothing
        tells the gateway from any other caller of /predict, so no caller's word for the sha256 is taken
        (hashing costs ~1 ms per MB, a few percent of the decode)."""
        if self.reads_pixels:
            return await asyncio.to_thread(decode_image, data, self.limits, header)
        await asyncio.to_thread(verify_image, data, self.limits, header)
        return ImageInput(image=None, raw=data, format=header.format, sha256=sha256_hex(data), header=header)

    async def explain(self, item: ImageInput | VideoInput, prediction: Prediction) -> str | None:
        loop = asyncio.get_running_loop()
        heat = await loop.run_in_executor(self.executor, self.detector.explain, item, prediction)
        if heat is None:
            return None
        image = item.image if isinstance(item, ImageInput) else None
        return to_base64_png(image, heat)


def _spool_video(data: bytes, fmt: str) -> VideoInput:
    # Video decoders read from a path and stream frames; the file is removed after the answer. The one
    # copy of the upload on disk in this process (the gateway has its own, for the keyframes).
    with tempfile.NamedTemporaryFile(prefix="tribunal-", suffix=f".{fmt}", delete=False) as handle:
        handle.write(data)
    return VideoInput(path=Path(handle.name), format=fmt, n_bytes=len(data), sha256=sha256_hex(data))


def create_app(detector: Detector, settings: ServiceSettings | None = None) -> FastAPI:
    """Build the FastAPI app serving ``detector`` with the Tribunal detector contract."""
    settings = settings or ServiceSettings()
    tune_allocator()  # before the worker threads start: they share the capped arenas
    service = DetectorHost(detector, settings)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.batcher.start()
        if settings.load_mode == "eager":
            service.state.start_loading()
        yield
        await service.batcher.stop()
        service.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title=f"Tribunal detector: {detector.spec.name}", version=detector.spec.version, lifespan=lifespan
    )
    app.state.service = service
    max_bytes = service.limits.max_bytes
    app.add_middleware(
        UploadLimitMiddleware,
        # multipart or base64 JSON (4/3 the size), plus room for the envelope around the file
        limits={"/predict": (max_bytes + 2) // 3 * 4 + _ENVELOPE_BYTES},
        default_limit=_ENVELOPE_BYTES,
        hint=f"TRIBUNAL_MAX_UPLOAD_MB={settings.max_upload_mb:g}",
    )
    # Added last so it is outermost: it logs and tags even the requests the upload limit refuses.
    app.add_middleware(RequestLogMiddleware, logger_name=f"tribunal.{detector.spec.name}")
    install_error_handlers(app)

    @app.get("/health")
    @app.get("/v2/health/live")
    async def health() -> dict[str, str]:
        # Never touches the model: answers while a batch runs or the model loads.
        return {"status": "ok"}

    @app.get("/ready")
    @app.get("/v2/health/ready")
    async def ready() -> JSONResponse:
        if settings.load_mode == "lazy" and service.state.status == "not_loaded":
            service.state.start_loading()
        service.metrics.ready.set(1 if service.state.ready else 0)
        if service.state.ready:
            return JSONResponse({"ready": True, "status": "ready"})
        return JSONResponse(
            {"ready": False, "status": service.state.status, "reason": service.state.reason}, status_code=503
        )

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return service.info()

    @app.get("/metrics")
    async def metrics() -> Response:
        service.metrics.queue_depth.set(service.batcher.queue_depth)
        service.metrics.memory_in_use.set(service.budget.in_use)
        service.metrics.memory_waiting.set(service.budget.waiting)
        service.metrics.ready.set(1 if service.state.ready else 0)
        return Response(service.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post("/predict", response_model=PredictResponse)
    async def predict(request: Request) -> JSONResponse:
        started = time.perf_counter()
        status = 500
        spooled: VideoInput | None = None
        weight = 0
        try:
            await service.state.ensure_ready(settings.lazy_load_timeout_s)
            upload = await read_upload(request)
            explain = (
                request.query_params.get("explain", upload.fields.get("explain", "false")).lower() in _TRUE
            )
            sniffed, header, weight = await service.admit(upload.data)
            if header is None:
                spooled = await asyncio.to_thread(_spool_video, upload.data, sniffed.format)
                body = await _answer(upload, spooled, explain, started)
            else:
                # The decoded image lives only inside the hold: queued behind, or refused by, the budget.
                async with service.budget.hold(weight):
                    body = await _answer(upload, await service.decode(upload.data, header), explain, started)
            status = 200
            return JSONResponse(body.model_dump())
        except TribunalError as exc:
            status = exc.status_code
            raise
        finally:
            service.metrics.count_request(status)
            service.metrics.latency.observe(time.perf_counter() - started)
            if spooled is not None:
                spooled.path.unlink(missing_ok=True)
            await release_after(service.budget, weight)

    async def _answer(
        upload: Upload, item: ImageInput | VideoInput, explain: bool, started: float
    ) -> PredictResponse:
        """Score one decoded input (through the batcher) and build the answer; drops ``item`` on return."""
        warnings: list[str] = []
        if upload.claimed_media_type and upload.claimed_media_type != detector.media_type:
            warnings.append(
                f"media_type {upload.claimed_media_type!r} was claimed but the bytes are {detector.media_type}"
            )
        try:
            prediction = await service.batcher.submit(item)
        except TribunalError:
            raise
        except Exception as exc:
            log.exception("predict_batch failed")
            raise InferenceFailed(
                f"{detector.spec.name} failed on this input: {type(exc).__name__}: {exc}"
            ) from exc
        heatmap = None
        if explain:
            heatmap = await service.explain(item, prediction)
            if heatmap is None:
                warnings.append(f"{detector.spec.name} cannot produce an explanation heatmap")
        return PredictResponse(
            detector=detector.spec.name,
            version=detector.spec.version,
            prob_fake=prediction.prob_fake,
            class_probs=prediction.class_probs,
            abstained=prediction.abstained,
            reason=prediction.reason,
            heatmap_png=heatmap,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 3),
            warnings=[*prediction.warnings, *warnings],
            details=prediction.details,
        )

    return app
