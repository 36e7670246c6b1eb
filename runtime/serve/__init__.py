"""The serving room: the HTTP API (CloudEvents in, results and event streams out)."""
