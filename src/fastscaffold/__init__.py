"""Render a Copier template into a ready-to-run FastAPI project."""

__version__ = "0.2.1"
