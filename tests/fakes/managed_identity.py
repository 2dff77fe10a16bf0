"""The App Service / Azure Functions managed-identity endpoint, as azure-identity (through MSAL) calls it.

When `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set (and `IDENTITY_SERVER_THUMBPRINT` is not),
`ManagedIdentityCredential` and `DefaultAzureCredential` use MSAL's App Service flow
(msal/managed_identity.py `_obtain_token_on_app_service`):

    GET {IDENTITY_ENDPOINT}?api-version=2019-08-01&resource=<resource>[&client_id=<id>|&mi_res_id=..|&object_id=..]
    X-IDENTITY-HEADER: {IDENTITY_HEADER}
    -> 200 {"access_token": "<JWT>", "expires_on": "<epoch seconds>", "resource": "<resource>",
            "token_type": "Bearer", "client_id": "<id>"}
    -> 4xx {"statusCode": <n>, "message": "...", "correlationId": "..."}  (MSAL reads statusCode and message)

The resource is the scope without `/.default` (`https://vault.azure.net/.default` -> `https://vault.azure.net`).
Tokens are JWTs with `aud` (the resource), `oid`, `tid`, `appid`, `iat`, `nbf` and `exp`, signed HS256 with
a key only this fake knows, so `verify()` can check a bearer token a client presents (the Key Vault fake
does) while clients, like real ones, only decode them. `lifetime_seconds` is settable; MSAL treats a
token with less than 5 minutes left as expired, so with short lifetimes every `get_token` reaches here.
`on_issue` runs before the token is returned (e.g. to let a Redis ACL user log in with it).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.fakes.http import FakeServer, JsonHandler

API_VERSION = "2019-08-01"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class TokenRequest:
    resource: str | None
    client_id: str | None
    header_ok: bool
    status: int
    at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class IssuedToken:
    resource: str
    token: str
    claims: dict[str, Any]

    @property
    def oid(self) -> str:
        return self.claims["oid"]

    @property
    def expires_on(self) -> int:
        return self.claims["exp"]


class _Handler(JsonHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.server.fake._token(self)


class ManagedIdentityEndpoint(FakeServer):
    """An identity provider for one system-assigned identity and any user-assigned ones in `identities`
    (client id -> object id). Records every request (`requests`) and token (`issued`)."""

    def __init__(
        self,
        *,
        lifetime_seconds: float = 3600,
        object_id: str | None = None,
        tenant_id: str | None = None,
        identities: dict[str, str] | None = None,
        on_issue: Callable[[IssuedToken], None] | None = None,
    ) -> None:
        super().__init__(_Handler)
        self.lifetime_seconds = lifetime_seconds
        self.object_id = object_id or str(uuid.uuid4())
        self.tenant_id = tenant_id or str(uuid.uuid4())
        self.client_id = str(uuid.uuid4())  # of the system-assigned identity
        self.identities = dict(identities or {})
        self.on_issue = on_issue
        self.header = uuid.uuid4().hex  # what the platform puts in IDENTITY_HEADER
        self.requests: list[TokenRequest] = []
        self.issued: list[IssuedToken] = []
        self._key = uuid.uuid4().hex + uuid.uuid4().hex
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/msi/token"

    def env(self) -> dict[str, str]:
        """What App Service sets in a process with a managed identity."""
        return {"IDENTITY_ENDPOINT": self.endpoint, "IDENTITY_HEADER": self.header}

    def tokens_for(self, resource: str) -> list[IssuedToken]:
        with self._lock:
            return [t for t in self.issued if t.resource == resource]

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The claims of a token this endpoint issued for `audience` that has not expired; raises
        jwt.InvalidTokenError otherwise (wrong signer, audience or expiry)."""
        return jwt.decode(token, self._key, algorithms=[_ALGORITHM], audience=audience)

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _error(self, handler: _Handler, status: int, message: str, request: TokenRequest) -> None:
        self._record(request)
        handler.reply(status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())})

    def _token(self, handler: _Handler) -> None:
        url = urlsplit(handler.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        resource = query.get("resource")
        client_id = query.get("client_id")
        header_ok = handler.headers.get("X-IDENTITY-HEADER") == self.header

        def fail(status: int, message: str) -> None:
            self._error(handler, status, message, TokenRequest(resource, client_id, header_ok, status))

        if url.path != urlsplit(self.endpoint).path:
            return fail(404, f"{url.path} not found")
        if not header_ok:
            return fail(401, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
        if query.get("api-version") != API_VERSION:
            return fail(400, f"api-version {query.get('api-version')!r} is not supported; use {API_VERSION}.")
        if not resource:
            return fail(400, "The 'resource' parameter is required.")
        if client_id is not None and client_id not in self.identities:
            return fail(400, "Unable to load the proper Managed Identity.")
        oid = self.identities[client_id] if client_id is not None else self.object_id
        now = int(time.time())
        claims = {
            "aud": resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + max(1, int(self.lifetime_seconds)),
            "oid": oid,
            "sub": oid,
            "tid": self.tenant_id,
            "appid": client_id or self.client_id,
            "idtyp": "app",
            "jti": uuid.uuid4().hex,  # two tokens issued in the same second still differ
        }
        issued = IssuedToken(resource, jwt.encode(claims, self._key, algorithm=_ALGORITHM), claims)
        if self.on_issue is not None:
            self.on_issue(issued)
        with self._lock:
            self.issued.append(issued)
        self._record(TokenRequest(resource, client_id, header_ok, 200))
        handler.reply(
            200,
            {
                "access_token": issued.token,
                "expires_on": str(claims["exp"]),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": claims["appid"],
            },
        )
