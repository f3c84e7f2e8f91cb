"""Where the meta-learner reads and writes, relative to the repository root."""

from __future__ import annotations

from tribunal_home import REPO_ROOT

# Committed: small, and a deployed default makes `ensemble_method=stacking` work out of the box.
ARTIFACTS_DIR = REPO_ROOT / "meta_learner" / "artifacts"
REPORTS_DIR = REPO_ROOT / "meta_learner" / "reports"
# Not committed (data/ is ignored): detector answers, re-creatable by querying the detectors again.
CACHE_DIR = REPO_ROOT / "data" / "meta_learner" / "cache"

# Detector packages (detectors/<registry entry's package>/): a trained detector's train.py writes its
# out-of-fold answers to weights/oof_answers.json there (meta_learner/oof.py reads them).
DETECTORS_DIR = REPO_ROOT / "detectors"

# The patch benchmark per media type (the layout with train/val/test splits). For images an imported
# labelled corpus takes its place when there is one (dataset.default_manifest).
DEFAULT_MANIFESTS = {
    "image": REPO_ROOT / "data" / "benchmark" / "manifest.csv",
    "video": REPO_ROOT / "data" / "benchmark_video" / "manifest.csv",
}
