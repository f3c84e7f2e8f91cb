"""make bench --suite detectors (issue 4): per-detector throughput, batching and SDK overhead."""

import pytest

from detectors.fft_spectral.detector import FftSpectralDetector
from scripts.bench import detectors as bench
from support.weights import require_trained_weights


def _cells(body: str, name: str) -> list[str]:
    row = next(line for line in body.splitlines() if line.startswith(f"| {name} |"))
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_an_untrained_detector_is_listed_as_skipped_not_measured():
    skipped = bench.DetectorResult("attribution_cnn", skipped="not trained, skipped (no sha256 pinned)")
    body = bench.report([skipped], "8 images", bench.Plan(), load_before=0.0)
    cells = _cells(body, "attribution_cnn")
    assert len(cells) == 11 and cells[1].startswith("not trained, skipped")
    assert "Notes:" not in body  # nothing measured, nothing to explain


@pytest.mark.integration
@pytest.mark.slow
def test_fft_spectral_is_measured_end_to_end():
    require_trained_weights(FftSpectralDetector)
    # Tiny plan: two service starts (max batch 1 and 4), a few requests each, a short bare loop. One
    # OpenMP thread: the classifier's per-tree parallel regions stall for seconds on a busy 2-core box.
    plan = bench.Plan(requests=8, concurrency=4, sweep=(4,), bare_seconds=0.3, env={"OMP_NUM_THREADS": "1"})
    images, note = bench.bench_images(8)
    result = bench.measure_detector("fft_spectral", images, plan, log=lambda _: None)
    assert result.skipped is None
    body = bench.report([result], note, plan, load_before=0.0)

    cells = _cells(body, "fft_spectral")
    # c=1 images/s and p50, c=4 batch-1 images/s, best max batch, mean batch, batched images/s and p50
    numbers = [float(cells[i]) for i in (1, 2, 3, 4, 5, 6, 7)]
    assert all(n > 0 for n in numbers), cells
    assert cells[4] == "4" and 1.0 <= numbers[4] <= 4.0
    assert cells[8].endswith(f"(batch {result.bare_batch})") and float(cells[8].split()[0]) > 0
    assert cells[9].endswith("%")
    assert "overhead ≤ 10 %: " in cells[10] and "batching beats batch 1: " in cells[10]
    assert all(run.load.errors == 0 for run in [result.c1, result.c16_b1, *result.sweep])
