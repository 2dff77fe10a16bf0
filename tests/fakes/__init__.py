"""Local stand-ins for the Azure services that have no local server: the managed-identity endpoint
(`managed_identity.py`) and Key Vault's secrets API (`keyvault.py`). Each speaks the service's real REST
protocol on 127.0.0.1, so the real azure-identity and azure-keyvault-secrets code paths run against it;
`tls.py` makes the throwaway CA they serve HTTPS with, and `tls_proxy.py` puts TLS (and a recorder) in
front of a plain-HTTP server such as the Cosmos DB protocol server."""
