"""Where the meta-learner reads and writes, relative to the repository root."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

# Committed: small, and a deployed default makes `ensemble_method=stacking` work out of the box.
ARTIFACTS_DIR = REPO_ROOT / "meta_learner" / "artifacts"
REPORTS_DIR = REPO_ROOT / "meta_learner" / "reports"
# Not committed (data/ is ignored): detector answers, re-creatable by querying the detectors again.
CACHE_DIR = REPO_ROOT / "data" / "meta_learner" / "cache"

# The labelled benchmark per media type (`make benchmark` writes the image one).
DEFAULT_MANIFESTS = {
    "image": REPO_ROOT / "data" / "benchmark" / "manifest.csv",
    "video": REPO_ROOT / "data" / "benchmark_video" / "manifest.csv",
}
