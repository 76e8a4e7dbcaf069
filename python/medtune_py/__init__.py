"""Python helpers that medtune runs inside its managed venv. Each module is a CLI speaking NDJSON on stdout."""
