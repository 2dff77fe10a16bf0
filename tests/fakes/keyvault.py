"""Key Vault's secrets API over HTTPS, with the challenge-based authentication azure-keyvault-secrets performs.

The flow the SDK's ChallengeAuthPolicy runs (azure/keyvault/secrets/_shared/challenge_auth_policy.py):
1. the first request goes out without a token -> 401 with
   `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>", resource="https://vault.azure.net"`
2. the SDK asks its credential for a token for `https://vault.azure.net/.default` (here: the managed-identity
   fake) and retries with `Authorization: Bearer <token>`; this fake checks the token's signature (the
   managed-identity fake's key), audience and expiry, and optionally who it names (`allowed_object_ids`).

Routes: `GET /secrets/{name}[/{version}]?api-version=...` and `PUT /secrets/{name}`, with Key Vault's JSON
bodies; a missing secret answers 404 `{"error": {"code": "SecretNotFound", ...}}`. The SDK checks that the
vault's host lies within the challenge's resource domain (vault.azure.net); on 127.0.0.1 it cannot, so
clients of this fake pass `verify_challenge_resource=False` (FEATURE_STORE_KEY_VAULT_VERIFY_CHALLENGE=false).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import jwt

from tests.fakes.http import FakeServer, JsonHandler
from tests.fakes.managed_identity import ManagedIdentityEndpoint
from tests.fakes.tls import TlsFiles

RESOURCE = "https://vault.azure.net"


@dataclass(frozen=True)
class VaultRequest:
    method: str
    path: str
    api_version: str | None
    authorized: bool
    status: int
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class _Version:
    value: str
    version: str
    created: int


def _error(code: str, message: str, inner: str | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if inner:
        error["innererror"] = {"code": inner}
    return {"error": error}


class _Handler(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.fake._handle(self, "GET")

    def do_PUT(self) -> None:  # noqa: N802
        self.server.fake._handle(self, "PUT")


class KeyVault(FakeServer):
    def __init__(
        self,
        tls: TlsFiles,
        identity: ManagedIdentityEndpoint,
        secrets: dict[str, str] | None = None,
        allowed_object_ids: set[str] | None = None,
    ) -> None:
        super().__init__(_Handler, tls.server_context())
        self.identity = identity
        self.allowed_object_ids = allowed_object_ids  # None: any identity the endpoint issued tokens for
        self.requests: list[VaultRequest] = []
        self._versions: dict[str, list[_Version]] = {}
        self._lock = threading.Lock()
        for name, value in (secrets or {}).items():
            self.set(name, value)

    @property
    def vault_url(self) -> str:
        return self.base_url + "/"

    def set(self, name: str, value: str) -> str:
        """Store a new version of a secret; returns the version id."""
        version = _Version(value, uuid.uuid4().hex, int(time.time()))
        with self._lock:
            self._versions.setdefault(name, []).append(version)
        return version.version

    def served(self, name: str) -> int:
        """How many times the secret's value was handed out."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 200 and r.method == "GET"
                       and r.path.rstrip("/").split("/")[2] == name)  # fmt: skip

    def _secret_body(self, name: str, version: _Version) -> dict:
        return {
            "value": version.value,
            "id": f"{self.base_url}/secrets/{name}/{version.version}",
            "attributes": {"enabled": True, "created": version.created, "updated": version.created,
                           "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
            "tags": {},
        }  # fmt: skip

    def _authorize(self, handler: _Handler) -> tuple[int, dict] | None:
        """None when the request carries a valid token; else the status and body to answer."""
        header = handler.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return 401, _error("Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
        try:
            claims = self.identity.verify(header.removeprefix("Bearer "), RESOURCE)
        except jwt.ExpiredSignatureError:
            return 401, _error("Unauthorized", "AKV10032: Invalid issuer or token expired.")
        except jwt.InvalidAudienceError:
            return 401, _error("Unauthorized", f"AKV10022: Invalid audience. Expected {RESOURCE}.")
        except jwt.InvalidTokenError:
            return 401, _error("Unauthorized", "AKV10031: Invalid token signature.")
        if self.allowed_object_ids is not None and claims["oid"] not in self.allowed_object_ids:
            return 403, _error(
                "Forbidden",
                f"Caller is not authorized to perform action on resource. Caller: oid={claims['oid']}",
                "ForbiddenByRbac",
            )
        return None

    def _handle(self, handler: _Handler, method: str) -> None:
        url = urlsplit(handler.path)
        api_version = parse_qs(url.query).get("api-version", [None])[0]
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        parts = [unquote(p) for p in url.path.split("/")[1:]]
        if parts and parts[-1] == "":
            parts.pop()  # get_secret(name) asks for /secrets/{name}/ (an empty version)

        def answer(status: int, payload: dict, authorized: bool = True) -> None:
            with self._lock:
                self.requests.append(VaultRequest(method, url.path, api_version, authorized, status))
            headers = {}
            if status == 401:
                headers["WWW-Authenticate"] = (
                    f'Bearer authorization="https://login.microsoftonline.com/{self.identity.tenant_id}", '
                    f'resource="{RESOURCE}"'
                )
            handler.reply(status, payload, headers)

        denied = self._authorize(handler)
        if denied is not None:
            return answer(*denied, authorized=False)
        if api_version is None:
            return answer(400, _error("BadParameter", "The 'api-version' query parameter is missing."))
        if len(parts) not in (2, 3) or parts[0] != "secrets":
            return answer(404, _error("NotFound", f"{url.path} is not a secrets API path."))
        name = parts[1]
        if method == "PUT":
            value = json.loads(body or b"{}").get("value")
            if not isinstance(value, str):
                return answer(400, _error("BadParameter", "The 'value' of a secret must be a string."))
            self.set(name, value)
        with self._lock:
            versions = list(self._versions.get(name, []))
        if len(parts) == 3:
            versions = [v for v in versions if v.version == parts[2]]
        if not versions:
            return answer(
                404,
                _error(
                    "SecretNotFound",
                    f"A secret with (name/id) {name} was not found in this key vault. If you recently deleted "
                    "this secret you may be able to recover it using the correct recovery command. For help "
                    "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
                ),
            )
        answer(200, self._secret_body(name, versions[-1]))
