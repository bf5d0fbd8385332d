"""Kiosk config: the show config composed of each component's settings model (schema), the shared
strict base (base), the checks against this machine that `check` and `run` share (preflight), the
generated JSON Schema and reference page (reference), and hot reload (reload)."""
