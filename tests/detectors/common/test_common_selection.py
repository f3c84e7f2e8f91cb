"""The one-standard-error rule over sources (detectors/common/selection.py)."""

from dataclasses import dataclass

import numpy as np

from detectors.common.selection import one_se_choice, source_bootstraps


@dataclass(frozen=True)
class Cand:
    c: float
    scores: np.ndarray


def _data(n_sources=20, per=15, seed=0):
    rng = np.random.default_rng(seed)
    sources = np.repeat([f"s{i}" for i in range(n_sources)], per)
    y = np.repeat(np.arange(n_sources) % 2, per)  # each source is all real or all AI, like the corpus
    signal = y + rng.normal(0, 1.0, len(y))
    return y, sources, signal, rng


def test_a_simpler_candidate_indistinguishable_from_the_best_is_chosen():
    y, sources, signal, rng = _data()
    best = Cand(0.1, signal)
    close = Cand(0.001, signal + rng.normal(0, 0.05, len(y)))  # the same evidence, a little noise
    chosen, reaches = one_se_choice([best, close], y, sources, lambda c: c.scores, lambda c: -c.c)
    assert chosen is close
    assert all(r.within_one_se for r in reaches)


def test_a_clearly_worse_simpler_candidate_is_not_chosen():
    y, sources, signal, rng = _data()
    best = Cand(0.1, signal)
    worse = Cand(0.001, rng.normal(0, 1.0, len(y)))  # no evidence at all
    chosen, reaches = one_se_choice([worse, best], y, sources, lambda c: c.scores, lambda c: -c.c)
    assert chosen is best
    reach = next(r for r in reaches if r.candidate is worse)
    assert reach.shortfall > reach.se > 0


def test_bootstraps_resample_whole_sources_and_keep_both_classes():
    y, sources, _, _ = _data(n_sources=6, per=4)
    for idx in source_bootstraps(y, sources, rounds=30):
        assert set(np.unique(y[idx])) == {0, 1}
        picked = sources[idx]
        for s in np.unique(picked):  # a source is drawn whole: a multiple of its 4 rows
            assert (picked == s).sum() % 4 == 0
