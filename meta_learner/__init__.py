"""The stacked meta-learner: features from live detectors, training, reports and deployed artifacts.

- ``paths``        where the benchmark, the feature cache, the reports and the artifacts live
- ``dataset``      the benchmark manifest as training items (and the hash of what was used)
- ``features``     the feature matrix: per detector a logit, a missing indicator, attribution probabilities
- ``query``        sends the benchmark through the gateway's fan-out client; caches every answer
- ``classifiers``  the candidate classifiers, registered by name, with their grids and Optuna spaces
- ``calibration``  Platt and isotonic calibration kept as plain JSON numbers
- ``metrics``      ROC-AUC, accuracy, log-loss, ECE, per-source accuracy
- ``baselines``    voting, averaging and every single detector scored on the same rows
- ``train``        dropout augmentation, selection, calibration, the final fit
- ``report``       the markdown and JSON comparison of one training run
- ``artifacts``    safe on-disk format, atomic writes, the deployed pointer, safe loading

``make retrain`` / ``make eval`` (scripts/retrain.py) run them in that order; the gateway's stacking
strategy loads what ``artifacts`` deployed.
"""
