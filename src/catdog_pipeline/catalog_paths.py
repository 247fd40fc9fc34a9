"""Where the catalog's datasets live: each path is written once, in conf/base/catalog*.yml.

The code that reads or names pipeline files outside a Kedro node (`catdog predict`, `serve`,
`summary`, `gate-set`, `promote`, the run hooks) asks here, so moving a dataset in the catalog
moves it for them too. `catdog check` compares the same paths with dvc.yaml.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from catdog_pipeline.core.errors import MissingFileError

CONF_SOURCE = "conf"  # Kedro's settings.CONF_SOURCE (the default)
BASE_ENV, RUN_ENV = "base", "local"  # settings.CONFIG_LOADER_ARGS


def catalog_paths(catalog_config: Mapping[str, Mapping]) -> dict[str, str]:
    """Dataset name -> the file or folder it lives in, for every catalog entry with one."""
    paths = {name: _location(config) for name, config in catalog_config.items()}
    return {name: path.rstrip("/") for name, path in paths.items() if path}


def _location(config: object) -> str | None:
    """`filepath` or `path` of a dataset config, looking inside wrappers (kedro-mlflow's)."""
    if not isinstance(config, Mapping):
        return None
    return config.get("filepath") or config.get("path") or _location(config.get("dataset"))


def project_catalog_paths(project: Path) -> dict[str, str]:
    """`catalog_paths` of the project's catalog, as Kedro merges conf/base and conf/local."""
    from kedro.config import OmegaConfigLoader

    conf = project / CONF_SOURCE
    if not (conf / BASE_ENV).is_dir():
        raise MissingFileError(
            f"No {conf / BASE_ENV}: run this from the project's root (the folder holding conf/ "
            "and dvc.yaml) or pass --project."
        )
    loader = OmegaConfigLoader(
        conf_source=str(conf),
        base_env=BASE_ENV,
        default_run_env=RUN_ENV if (conf / RUN_ENV).is_dir() else BASE_ENV,
        ignore_hidden=False,
    )
    return catalog_paths(loader["catalog"])


def dataset_path(name: str, project: Path = Path(".")) -> Path:
    """The file or folder of the catalog's dataset `name`, under `project`."""
    return project / project_catalog_paths(project)[name]
