"""catdog-pipeline: a reproducible cat-vs-dog image classifier (Kedro + DVC + MLflow + Keras)."""

__version__ = "0.1.0"
