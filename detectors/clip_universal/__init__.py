"""UniversalFakeDetect-style detector: frozen image encoder + linear probe (see detector.py)."""
