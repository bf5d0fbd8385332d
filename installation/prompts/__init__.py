"""Visitors' words: the Director, the fair queue, moderation, expansion, interpretation."""
