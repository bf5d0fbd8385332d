"""Operator control: ShowControl, hot keys, OSC, warnings, opening hours and attract mode."""
