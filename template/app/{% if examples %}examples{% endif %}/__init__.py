"""The concurrency examples: one endpoint per tool, each with a test that proves its claim.

Delete this package, `app/api/routes/examples.py`, their tests and the line in
`app/features.py` (or regenerate with `--no-examples`) and nothing else changes.
"""
