"""Kiosk config: the settings schema, the loader and hot reload."""
