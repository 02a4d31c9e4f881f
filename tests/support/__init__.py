"""Helpers shared by several test modules (models, plans, audit evidence, rendered scripts)."""
