"""Code shared by several detectors: backbones, training data, evaluation, calibration, model cards."""
