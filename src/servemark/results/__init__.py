"""Results out of the store: run listings, point selections, exports (CLI and Python API)."""
