"""HTTP assembly: the FastAPI app, auth dependencies, errors and middleware."""
