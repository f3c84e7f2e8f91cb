"""Cross-Efficient-ViT video deepfake detector: face tracks of sampled frames (see detector.py)."""
