"""Renderers: the only modules that turn results into text (terminal, JSON, Markdown)."""
