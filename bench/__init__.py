"""The benchmark: the engine beside the least a matcher can do (docs/performance.md)."""
