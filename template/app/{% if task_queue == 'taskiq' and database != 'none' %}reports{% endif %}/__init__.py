"""A queued job that reads the database through the same contract as the API."""
