"""Cosmos DB authentication against the Cosmos DB protocol server, behind a recording TLS proxy (the server
speaks HTTP and ignores authentication, so the proof is in what the SDK sent):
- Entra ID: the SDK gets a token for the account's scope from the managed identity and sends it as
  `type=aad&ver=1.0&sig=<token>` on every request; reads and writes work, and no key exists anywhere.
- The Databricks AzureCosmosDBSpec with its keys in Key Vault: every request of the publishing spec is
  signed with the write key, every request of `for_reading()` with the read key.
The SDK skips certificate checks for 127.0.0.1 and localhost (its emulator rule, _synchronized_request.py),
so its InsecureRequestWarning is expected here; Key Vault's client does verify against the test CA."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

import pytest

from feature_store.azure.identity import AzureIdentity
from feature_store.online import ReadRequest
from feature_store.online.cosmos_store import CosmosOnlineStore
from feature_store.online.specs import AzureCosmosDBSpec, CosmosStoreSpec, spec_from_env
from scripts import devservices
from tests.fakes.keyvault import KeyVault
from tests.fakes.managed_identity import ManagedIdentityEndpoint
from tests.fakes.tls import TlsFiles
from tests.fakes.tls_proxy import RecordingTlsProxy
from tests.secrets.conftest import PLANTED

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning"),
]

ACCOUNT_RESOURCE = (
    "https://127.0.0.1"  # the SDK's account scope for https://127.0.0.1:<port>/, sans /.default
)
CONTAINER = "online_features"


@pytest.fixture
def database(cosmos_server: devservices.Service) -> Iterator[str]:
    """A database with the online store's container, created with a key as an operator would (Entra ID
    data-plane roles cannot create databases), deleted at the end."""
    name = f"fs_entra_{uuid.uuid4().hex[:10]}"
    setup = CosmosOnlineStore(
        cosmos_server.url, devservices.COSMOS_EMULATOR_KEY, database=name, container=CONTAINER,
        enable_endpoint_discovery=False,
    )  # fmt: skip
    client = setup._client
    try:
        yield name
    finally:
        client.delete_database(name)
        setup.close()


@pytest.fixture
def proxy(tls: TlsFiles, cosmos_server: devservices.Service, monkeypatch) -> Iterator[RecordingTlsProxy]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca))
    with RecordingTlsProxy(tls, cosmos_server.port) as recording:
        yield recording


def _header(head: str, name: str) -> str:
    match = re.search(rf"^{name}: (.*)$", head, re.IGNORECASE | re.MULTILINE)
    assert match, f"no {name} header in {head.splitlines()[0]}"
    return unquote(match.group(1).strip())


def _signed_with(head: str, key: str) -> bool:
    """Whether a request carries the master-key signature the Cosmos REST API defines for `key`:
    HMAC-SHA256 over verb, resource type, resource link and x-ms-date."""
    verb, target = head.split(" ", 2)[:2]
    parts = [p for p in urlsplit(target).path.split("/") if p]
    # A feed (odd number of parts: /dbs/d/colls) is typed by its last part and linked by its parent;
    # a resource (/dbs/d/colls/c) is typed by the part before its id and linked by its whole path.
    kind, link = (
        (parts[-1], "/".join(parts[:-1])) if len(parts) % 2 else (parts[-2] if parts else "", "/".join(parts))
    )
    text = f"{verb.lower()}\n{kind.lower()}\n{unquote(link)}\n{_header(head, 'x-ms-date').lower()}\n\n"
    signature = base64.b64encode(
        hmac.new(base64.b64decode(key), text.encode(), hashlib.sha256).digest()
    ).decode()
    return _header(head, "authorization") == f"type=master&ver=1.0&sig={signature}"


def _rows(store, table: str) -> list[int]:
    return [r["x"] for r in store.read([ReadRequest(table, [1, 2])])[0].rows if r]


def test_cosmos_with_entra_id_sends_managed_identity_tokens_and_no_key(
    database: str, proxy: RecordingTlsProxy, identity_endpoint: ManagedIdentityEndpoint, tmp_path
):
    env = {"FEATURE_STORE_COSMOS_ENDPOINT": proxy.url, "FEATURE_STORE_COSMOS_AUTH": "entra",
           "FEATURE_STORE_COSMOS_DATABASE": database, "FEATURE_STORE_COSMOS_ENDPOINT_DISCOVERY": "false",
           "FEATURE_STORE_AZURE_CREDENTIAL": "managed_identity"}  # fmt: skip
    spec = spec_from_env("cosmos", tmp_path, env)
    assert (spec.key, spec.identity, spec.container) == (None, AzureIdentity("managed_identity"), CONTAINER)
    table = "entra_t"
    now = datetime.now(UTC)
    with spec.open() as store:
        assert store.write_batch(table, ["id"], [{"id": 1, "feature_ts": now, "x": 1}]).written == 1
        assert store.write_batch(table, ["id"], [{"id": 2, "feature_ts": now, "x": 2}]).written == 1
        assert _rows(store, table) == [1, 2]
    granted = [r for r in identity_endpoint.requests if r.status == 200]
    assert granted and {r.resource for r in granted} == {ACCOUNT_RESOURCE}
    heads = proxy.request_heads()
    assert len(heads) >= 4
    for head in heads:
        authorization = _header(head, "authorization")
        assert authorization.startswith("type=aad&ver=1.0&sig="), head.splitlines()[0]
        claims = identity_endpoint.verify(
            authorization.removeprefix("type=aad&ver=1.0&sig="), ACCOUNT_RESOURCE
        )
        assert claims["oid"] == identity_endpoint.object_id


def test_entra_id_over_plain_http_is_refused_by_the_sdk(
    database: str, cosmos_server: devservices.Service, identity_endpoint: ManagedIdentityEndpoint
):
    """A token is never sent in the clear: azure-core refuses bearer tokens on http:// URLs."""
    spec = CosmosStoreSpec(
        cosmos_server.url, identity=AzureIdentity("managed_identity"), database=database, container=CONTAINER,
        enable_endpoint_discovery=False,
    )  # fmt: skip
    with pytest.raises(Exception, match="non-TLS protected"):
        spec.open()  # the client reads the account's properties as it starts
    assert identity_endpoint.requests == []  # refused before a token was even fetched


def test_publishing_signs_with_the_write_key_and_serving_with_the_read_key(
    database: str, proxy: RecordingTlsProxy, key_vault: KeyVault
):
    from feature_store import dbutils

    spec = AzureCosmosDBSpec(
        account_uri=proxy.url,
        write_secret_prefix="keyvault/cosmos-write",
        read_secret_prefix="keyvault/cosmos-read",
        database_name=database,
        container_name=CONTAINER,
        enable_endpoint_discovery=False,
    )
    assert dbutils.secrets.get("keyvault", "cosmos-uri") == PLANTED["cosmos-uri"]  # the seed's other secret
    write_key, read_key = PLANTED["cosmos-write-authorization-key"], PLANTED["cosmos-read-authorization-key"]
    now = datetime.now(UTC)
    with spec.open() as store:
        store.write_batch("keys_t", ["id"], [{"id": 1, "feature_ts": now, "x": 1}])
    published = len(proxy.request_heads())
    with spec.for_reading().open() as store:
        assert store.read([ReadRequest("keys_t", [1])])[0].rows[0]["x"] == 1
    heads = proxy.request_heads()
    assert published >= 2 and len(heads) > published
    assert all(_signed_with(h, write_key) and not _signed_with(h, read_key) for h in heads[:published])
    assert all(_signed_with(h, read_key) and not _signed_with(h, write_key) for h in heads[published:])
    assert key_vault.served("cosmos-write-authorization-key") == 1
    assert key_vault.served("cosmos-read-authorization-key") == 1
