"""Deployment: the model behind `catdog predict`, the HTTP service and its upload page."""
