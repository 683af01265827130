"""The distributed task queue: a broker, its tasks, and the worker command."""
