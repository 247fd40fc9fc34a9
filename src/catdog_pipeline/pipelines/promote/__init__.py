"""The promote stage: champion/challenger on the gate set."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
