"""The feature repo this code location serves (FEATURE_STORE_REPO, else `[tool.featurestore] repo` in the
working directory's pyproject.toml): every generated asset, check and sensor comes from its
declarations, loaded and validated once, when the definitions load."""

from feature_store.declarations import Repo, Source, TransformTable, WindowedTable, load_repo
from feature_store.declarations.repo import configured_repo_module

REPO: Repo = load_repo(configured_repo_module())
LANDED_SOURCES: list[Source] = [s for s in REPO.sources if s.landed]
WINDOWED_TABLES: list[WindowedTable] = [t for t in REPO.table_order() if isinstance(t, WindowedTable)]
TABLES: list[WindowedTable | TransformTable] = REPO.table_order()  # every input before its readers
