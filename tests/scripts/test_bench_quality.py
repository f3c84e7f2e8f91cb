"""The quality suite gathers the committed leave-source-out figures; it measures nothing itself."""

import json

from scripts.bench import quality
from scripts.local_stack import REPO_ROOT


def test_the_page_shows_each_detectors_committed_out_of_fold_figures_and_the_fusion_table():
    page = quality.run()
    for name in quality.IMAGE_DETECTORS:
        metrics = json.loads((REPO_ROOT / "detectors" / name / "weights" / "metrics.json").read_text())
        oof = metrics.get("out_of_fold") or metrics.get("oof")
        assert f"| {name} | {oof['n']} | {oof['roc_auc']:.3f} |" in page
    assert "| average |" in page and "| **stacking (deployed)** |" in page


def test_a_missing_section_is_named_not_raised():
    assert (
        quality._section("## Other\n\nbody\n", "Every method") == "(no 'Every method' section in the report)"
    )
    assert quality._section("## Every method, out-of-fold\n\nrows\n## Next\n", "Every method") == "rows"
