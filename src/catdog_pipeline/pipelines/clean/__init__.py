"""The clean stage."""


def create_pipeline(**kwargs):
    """The clean pipeline. Imported on use: the worker processes that run `normalize` then
    import only it (PIL, NumPy, imagehash), not Kedro, pandas and SciPy, and start seconds
    sooner."""
    from .pipeline import create_pipeline as create

    return create(**kwargs)


__all__ = ["create_pipeline"]
