"""Performance benchmarks (``make bench``): each suite measures and writes its section of docs/benchmarks.md."""
