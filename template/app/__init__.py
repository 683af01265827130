"""The FastAPI application package."""
