"""The project's config loader finds params.yaml wherever the project lives."""

from __future__ import annotations

from pathlib import Path

from catdog_pipeline import settings


def test_parameters_load_in_a_dvc_queue_workspace(tmp_path: Path) -> None:
    """`dvc exp run --queue` runs in .dvc/tmp/exps/<tmp>/: a dot-folder on the symlink's path."""
    project = tmp_path / ".dvc" / "tmp" / "exps" / "tmp1234"
    (project / "conf" / "base").mkdir(parents=True)
    (project / "conf" / "local").mkdir()
    (project / "params.yaml").write_text("train:\n  learning_rate: 0.003\n")
    (project / "conf" / "base" / "parameters.yml").symlink_to("../../params.yaml")

    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project / "conf"), **settings.CONFIG_LOADER_ARGS
    )

    assert loader["parameters"] == {"train": {"learning_rate": 0.003}}
