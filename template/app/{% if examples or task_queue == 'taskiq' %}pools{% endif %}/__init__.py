"""The process pool for CPU-bound work, and the work it runs."""
