"""The stacked meta-learner: features from the detectors' answers, training, reports and deployed artifacts.

- ``paths``        where the benchmark, the feature cache, the reports and the artifacts live
- ``dataset``      the imported corpus or the patch benchmark as training items (and the hash of what was used)
- ``features``     the feature matrix: per detector a logit, a missing indicator, attribution probabilities
- ``query``        sends the images through the fan-out client the gateway uses (tribunal_sdk.client); caches
                   every answer
- ``oof``          a trained detector's out-of-fold answers on the corpus, checked against what it serves
- ``classifiers``  the candidate classifiers, registered by name, with their grids and Optuna spaces
- ``calibration``  none, Platt or isotonic calibration, kept as plain JSON numbers
- ``metrics``      ROC-AUC, accuracy, log-loss, ECE, per-source accuracy, per-family ROC-AUC
- ``baselines``    the fusions handed in (the gateway's voting and averaging) and every single detector,
                   scored on the same rows
- ``train``        dropout augmentation, selection, calibration, the final fit (patch benchmark splits)
- ``crossval``     the same leave-source-out over an imported corpus's folds, every figure out-of-fold
- ``report``       the markdown and JSON comparison of one training run (patch benchmark)
- ``crossval_report``  its report: targets, every method, families, weights, each detector taken away
- ``artifacts``    safe on-disk format, atomic writes, the deployed pointer, safe loading

``make retrain`` / ``make eval`` (scripts/retrain.py) run them in that order; the gateway's stacking
strategy loads what ``artifacts`` deployed.

Nothing here imports ``gateway``: detectors are reached through ``tribunal_sdk.client``, registry
entries come from the caller and are typed by the protocols they satisfy (``DetectorEndpoint``,
``oof.DetectorPackage``), and the fusions to compare against are handed in. The gateway imports only
the runtime — ``artifacts``, ``features`` and ``paths``, and what they import (``calibration``,
``classifiers``, ``equal_weight``, ``best_detector``) — never the training modules. tests/test_package_boundaries.py
holds both rules.
"""
