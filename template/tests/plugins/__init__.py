"""Fixtures each chosen feature brings; `tests/conftest.py` loads every module here."""
