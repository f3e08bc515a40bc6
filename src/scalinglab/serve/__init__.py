"""Serving a fine-tuned classifier over HTTP: FastAPI routes and micro-batching."""
