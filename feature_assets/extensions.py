"""The repo's own assets (`Repo.asset_modules`): what a team builds on its feature tables beside the
generated assets, e.g. the churn example's training set, model and scores. Their Dagster assets and
asset checks join the code location as they are."""

import importlib

import dagster as dg

from feature_assets.repo import REPO
from feature_store.declarations import DeclarationError


def _import(module: str):
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise DeclarationError(f"repo {REPO.name!r}", "asset_modules", f"cannot import {module!r}: {exc}") from None


_modules = [_import(module) for module in REPO.asset_modules]
extension_assets: list[dg.AssetsDefinition] = [
    a for a in dg.load_assets_from_modules(_modules) if isinstance(a, dg.AssetsDefinition)
]
extension_checks: list[dg.AssetChecksDefinition] = list(dg.load_asset_checks_from_modules(_modules))
