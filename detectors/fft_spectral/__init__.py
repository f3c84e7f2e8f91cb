"""Frequency-domain detector: FFT/DCT statistics + a scikit-learn classifier (issue 4)."""
