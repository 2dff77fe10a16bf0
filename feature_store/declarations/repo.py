"""A feature repo: the sources, entities, feature tables and on-demand functions a team declares.

A repo is a Python module with a module-level `repo = Repo(...)`, loaded by name with `load_repo`; the
code location loads the one `configured_repo_module` names (environment, then pyproject.toml).
Everything is validated when the repo is built, so a broken declaration stops the definitions from
loading with an error that names the declaration and the field.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from feature_store.declarations.errors import DeclarationError, require
from feature_store.declarations.functions import FeatureFunction
from feature_store.declarations.sources import Entity, Source
from feature_store.declarations.tables import FeatureTableDeclaration, TransformTable, WindowedTable

_MODULE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Repo:
    name: str
    sources: tuple[Source, ...] = ()
    entities: tuple[Entity, ...] = ()
    tables: tuple[FeatureTableDeclaration, ...] = ()
    functions: tuple[FeatureFunction, ...] = ()
    # Modules (`package.module`) whose Dagster assets and checks join the generated ones in the code
    # location, e.g. a model trained on the repo's tables; imported when the definitions load.
    asset_modules: tuple[str, ...] = ()
    # The registered MLflow model whose champion's training days are the drift reports' reference.
    drift_reference_model: str | None = None

    def __post_init__(self) -> None:
        where = f"repo {self.name!r}"
        for i, module in enumerate(self.asset_modules):
            require(bool(_MODULE.fullmatch(module)), where, f"asset_modules[{i}]",
                    f"{module!r} is not a dotted module name")  # fmt: skip
        for field, items, key in (
            ("sources", self.sources, lambda s: s.name),
            ("entities", self.entities, lambda e: e.name),
            ("tables", self.tables, lambda t: t.name),
            ("functions", self.functions, lambda f: f.name),
        ):
            _unique(where, field, [key(i) for i in items])
        _unique(where, "tables", [t.short_name for t in self.tables], "short name")
        _unique(where, "sources", [s.table for s in self.sources], "table")
        for table in self.tables:
            require(table.entity in self.entities, table.name, "entity",
                    f"entity {table.entity.name!r} is not in the repo's entities")  # fmt: skip
            if isinstance(table, WindowedTable):
                require(table.source in self.sources, table.name, "source",
                        f"source {table.source.name!r} is not in the repo's sources")  # fmt: skip
            else:
                for i, name in enumerate(table.inputs):
                    require(self.find(name) is not None, table.name, f"inputs[{i}]",
                            f"unknown input {name!r} (sources: {_names(self.sources)}; tables: {_names(self.tables)})")  # fmt: skip
        self.table_order()  # refuses a cycle
        features = {c.name for t in self.tables for c in t.feature_columns()}
        _unique(
            where, "functions", [*features, *(f.name for f in self.functions)], "feature or function name"
        )

    def find(self, name: str) -> Source | FeatureTableDeclaration | None:
        """A source by name or table, or a feature table by name or short name."""
        for source in self.sources:
            if name in (source.name, source.table):
                return source
        for table in self.tables:
            if name in (table.name, table.short_name):
                return table
        return None

    def table(self, name: str) -> FeatureTableDeclaration:
        found = self.find(name)
        if not isinstance(found, WindowedTable | TransformTable):
            raise KeyError(f"no feature table {name!r} in repo {self.name!r} (tables: {_names(self.tables)})")
        return found

    def upstream_tables(self, table: FeatureTableDeclaration) -> list[FeatureTableDeclaration]:
        if isinstance(table, WindowedTable):
            return []
        return [
            t for t in (self.find(n) for n in table.inputs) if isinstance(t, WindowedTable | TransformTable)
        ]

    def table_order(self) -> list[FeatureTableDeclaration]:
        """Tables with every input before its readers; a cycle is a DeclarationError naming it."""
        order: list[FeatureTableDeclaration] = []
        state: dict[str, str] = {}

        def visit(table: FeatureTableDeclaration, path: list[str]) -> None:
            if state.get(table.name) == "done":
                return
            if state.get(table.name) == "visiting":
                cycle = " -> ".join([*path[path.index(table.name) :], table.name])
                raise DeclarationError(table.name, "inputs", f"a cycle between transform tables: {cycle}")
            state[table.name] = "visiting"
            for upstream in self.upstream_tables(table):
                visit(upstream, [*path, table.name])
            state[table.name] = "done"
            order.append(table)

        for table in self.tables:
            visit(table, [])
        return order

    def function(self, name: str) -> FeatureFunction:
        for function in self.functions:
            if function.name == name:
                return function
        raise KeyError(f"no on-demand function {name!r} in repo {self.name!r}")


def configured_repo_module(env: Mapping[str, str] | None = None, directory: Path | None = None) -> str:
    """Which repo module to load: FEATURE_STORE_REPO if set, else `[tool.featurestore] repo` in the
    pyproject.toml of `directory` (default: the working directory, where `dagster dev` runs), else the
    variable's default (the churn example)."""
    from feature_store.runtime import variables as V

    if V.REPO.is_set(env):
        return V.REPO.value(env)  # type: ignore[return-value]
    pyproject = (directory or Path.cwd()) / "pyproject.toml"
    if pyproject.is_file():
        try:
            configured = tomllib.loads(pyproject.read_text()).get("tool", {}).get("featurestore", {}).get("repo")
        except tomllib.TOMLDecodeError as exc:
            raise DeclarationError(str(pyproject), "tool.featurestore.repo", f"unreadable TOML: {exc}") from None
        if configured:
            return str(configured)
    return V.REPO.value(env)  # type: ignore[return-value]


def load_repo(module: str) -> Repo:
    """The `repo` of a feature repo module (`package.module`)."""
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise DeclarationError(f"repo module {module!r}", "import", f"cannot import it: {exc}") from None
    repo = getattr(loaded, "repo", None)
    if not isinstance(repo, Repo):
        raise DeclarationError(f"repo module {module!r}", "repo", "has no module-level `repo = Repo(...)`")
    return repo


def _unique(where: str, field: str, names: Iterable[str], what: str = "name") -> None:
    seen: set[str] = set()
    for name in names:
        require(name not in seen, where, field, f"duplicate {what} {name!r}")
        seen.add(name)


def _names(items) -> str:
    return ", ".join(i.name for i in items) or "none"
