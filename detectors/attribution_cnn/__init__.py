"""Generator attribution: EfficientNet-Lite features + a head trained on the benchmark (issue 4)."""
