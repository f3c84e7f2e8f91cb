"""HTTP routes, one module per area: detection, the model list, operations (health, readiness, metrics)."""
