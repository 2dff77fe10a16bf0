"""Azure plumbing shared by the engine: Entra ID credentials built from configuration (`identity.py`).

Imports of azure-identity happen inside functions, so importing this package costs nothing where
Azure is not used (the local profile)."""

from feature_store.azure.identity import CREDENTIAL_KINDS, AzureIdentity

__all__ = ["CREDENTIAL_KINDS", "AzureIdentity"]
