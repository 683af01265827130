"""Configuration and process-wide resources."""
