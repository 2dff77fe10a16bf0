"""The Azure Cosmos DB (NoSQL API) online store.

Layout: ONE container shared by all feature tables (default `feature_store/online_features`), created
with partition key `/id`, `defaultTtl = -1` (per-item TTL on, no default) and an indexing policy that
indexes only `/t`. Item per row:
    {"id": "<table>~<base64url(encoded key)>", "t": "<table>", "ts": <feature_ts µs>, "v": "<encoded row>",
     "ttl": <seconds, only when the table has an expiry>}
and one meta item per table, `{"id": "~meta~<table>", "t": "<table>", "ttl_s": <seconds or null>}`.
- Why one container: a read across several tables is one read call (ids of all tables together);
  per-table containers would need a request per table. Per-table expiry is a per-item `ttl`.
- Why partition key = id: keys have high cardinality and are only ever looked up one by one, so each
  logical partition holds one item, load spreads evenly, a point read needs no extra field, and
  ReadMany recognises the id-is-the-partition-key case. Nothing here needs a multi-item transaction.
- Why base64url ids: an id may not contain / \\ ? # and the SDK puts it unescaped in URLs.
- The row is an opaque JSON string: Cosmos numbers are doubles (an int > 2**53 would lose digits) and
  its JSON has no NaN/Infinity. Only `/t` is indexed (for drop_table): that keeps writes cheap.

Reads: up to `read_many_max_keys` ids (default 16) go through the SDK's ReadMany (`read_items`: a
point read, 1 RU, where a physical partition gets one id; an `id IN (...)` query otherwise). More ids
go as `id IN (...)` queries of up to 1000 ids sent to every physical partition: ReadMany would hash
each id in pure Python (~0.3 ms per id, 0.6 s for 2,000 ids), and a large request touches every
partition anyway. Several chunks run in parallel on the store's thread pool.

Monotonic writes: optimistic concurrency, no stored procedure. Per batch, one read fetches the current
`ts` and `_etag` of every key; rows older than the stored one are skipped; the others are
`create_item` (new key) or `replace_item` with If-Match on the etag. A 409/412 (another writer got there
first) re-reads that row and decides again. Writes go out concurrently on `write_concurrency` threads.

RU cost on real Cosmos (approximate, for rows <= 1 KB; the emulator charges 1 for everything):
- read: 1 RU per key via point reads; via queries ~1 RU per item found plus ~2-3 RU per query per
  physical partition. A table's meta item is re-read at most every `meta_cache_seconds`, riding along
  in the same call.
- write: the batch read (as above, ~1 RU per row) + ~6-10 RU per row that lands (create or replace with
  one indexed path); a skipped older row costs only its read; a conflict retry one more read and write.
- set_expiry: one upsert (~10 RU); drop_table: a query on `/t` + one delete (~6 RU) per row.
Throttling (429, "request rate is large"): the SDK waits the `x-ms-retry-after-ms` Cosmos sends and retries,
by default up to 9 times and 30 s. That is right for a publish, not for a request a caller waits on: the
store takes a budget (`throttle_retries`, `throttle_wait_seconds`), the read specs (`for_reading()`, what
serving and lookups open) a small one, and a 429 that outlasts it is an OnlineStoreError saying so.
Expiry: reads filter on `feature_ts + ttl` themselves (exact, retroactive); the per-item `ttl` only lets
Cosmos reclaim storage. The @vercel/cosmosdb-server emulator ignores `ttl`, so on it only the read
filter acts, which is what the contract tests check.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.core import MatchConditions
from azure.core.pipeline.transport import RequestsTransport
from azure.cosmos import CosmosClient, PartitionKey, exceptions

from feature_store.online.base import (
    DEFAULT_MAX_ROW_BYTES,
    EncodedBatch,
    InvalidRowError,
    OnlineStore,
    OnlineStoreError,
    ReadRequest,
    TableResult,
    check_table,
    check_ttl,
    expiry_cutoff,
)
from feature_store.online.encoding import decode_row, encode_key

# The row text is JSON inside a JSON string: escaping can double it, and an item may hold 2 MB.
_MAX_ROW_BYTES = 1_000_000
_MAX_ID_BYTES = 1023
_MAX_ATTEMPTS = 10
_IDS_PER_QUERY = 1000  # ReadMany's own chunk size
_READ_FIELDS = "c.id, c.ts, c.v, c.ttl_s"
_WRITE_FIELDS = "c.id, c.ts, c._etag"
_INDEXING_POLICY = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [{"path": "/t/?"}],
    "excludedPaths": [{"path": "/*"}],
}


def _meta_id(table: str) -> str:
    return f"~meta~{table}"


class CosmosOnlineStore(OnlineStore):
    def __init__(
        self,
        endpoint: str,
        credential: Any,
        *,
        database: str = "feature_store",
        container: str = "online_features",
        max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
        write_concurrency: int = 8,
        meta_cache_seconds: float = 30.0,
        read_many_max_keys: int = 16,
        use_env_proxies: bool = True,
        offer_throughput: int | None = None,
        create_if_missing: bool = True,
        throttle_retries: int = 9,
        throttle_wait_seconds: float = 30.0,
        client: CosmosClient | None = None,
        close_credential: bool = False,
        **client_kwargs: Any,
    ):
        """`credential`: the account key or an azure-identity credential. Extra keyword arguments go to
        `CosmosClient`; for the local emulator over HTTP pass `enable_endpoint_discovery=False`.
        `use_env_proxies=False` stops `requests` from resolving HTTP(S)_PROXY/NO_PROXY on every request
        (about 1 ms of CPU per request here); keep it on where Cosmos is reached through a proxy.
        `create_if_missing=False` where the identity may not create databases (Entra ID data-plane RBAC
        can't): the container must then exist with partition key `/id`. `close_credential=True` closes an
        azure-identity credential with the store (the spec made it for this store alone).
        `throttle_retries` / `throttle_wait_seconds`: how often and how long in all a throttled (429)
        request is retried before the call fails (at least once; the SDK's 0 means its default)."""
        if max_row_bytes > _MAX_ROW_BYTES:
            raise ValueError(
                f"max_row_bytes={max_row_bytes} exceeds what a 2 MB Cosmos item can hold ({_MAX_ROW_BYTES})"
            )
        self.max_row_bytes = max_row_bytes
        self.meta_cache_seconds = meta_cache_seconds
        self.read_many_max_keys = read_many_max_keys
        if throttle_retries < 1 or throttle_wait_seconds <= 0:
            raise ValueError("throttle_retries must be >= 1 and throttle_wait_seconds > 0")
        self.throttle_retries, self.throttle_wait_seconds = throttle_retries, throttle_wait_seconds
        client_kwargs.setdefault("retry_throttle_total", throttle_retries)
        client_kwargs.setdefault("retry_throttle_backoff_max", throttle_wait_seconds)
        if not use_env_proxies and "transport" not in client_kwargs:
            client_kwargs["transport"] = RequestsTransport(use_env_settings=False)
        self._client = client or CosmosClient(endpoint, credential=credential, **client_kwargs)
        self._owned_credential = credential if close_credential and hasattr(credential, "close") else None
        if create_if_missing:
            db = self._client.create_database_if_not_exists(database)
            self._c = db.create_container_if_not_exists(
                container,
                partition_key=PartitionKey("/id"),
                default_ttl=-1,
                indexing_policy=_INDEXING_POLICY,
                offer_throughput=offer_throughput,
            )
        else:
            self._c = self._client.get_database_client(database).get_container_client(container)
        # Reused by ReadMany and the writes: the SDK would otherwise build a thread pool per call.
        self._pool = ThreadPoolExecutor(write_concurrency, thread_name_prefix="cosmos-online")
        self._ttl_cache: dict[str, tuple[float | None, float]] = {}  # table -> (ttl, valid until)
        self._id_prefixes: dict[str, str] = {}

    def _id_prefix(self, table: str) -> str:
        prefix = self._id_prefixes.get(table)
        if prefix is None:
            prefix = self._id_prefixes[table] = f"{check_table(table)}~"
        return prefix

    @staticmethod
    def _id(prefix: str, encoded_key: str) -> str:
        item_id = prefix + base64.urlsafe_b64encode(encoded_key.encode()).rstrip(b"=").decode()
        if len(item_id) > _MAX_ID_BYTES:
            raise InvalidRowError(
                f"key {encoded_key[:80]!r}... is too long for a Cosmos id ({len(item_id)} > 1023)"
            )
        return item_id

    @contextlib.contextmanager
    def _throttle_budget(self, what: str) -> Iterator[None]:
        """A 429 that outlasted the SDK's retries (this store's budget) becomes an error that says so."""
        try:
            yield
        except exceptions.CosmosHttpResponseError as exc:
            if exc.status_code != 429:
                raise
            raise OnlineStoreError(
                f"Cosmos DB throttled the {what} (429, request rate is large) beyond this store's budget of "
                f"{self.throttle_retries} retries / {self.throttle_wait_seconds:g}s: raise the container's "
                f"RU/s or spread the load; nothing was changed by the failed request"
            ) from exc

    def _read_many(self, ids: Sequence[str], fields: str = _READ_FIELDS) -> dict[str, dict[str, Any]]:
        """The items with these ids (missing ones absent), in one round trip (parallel requests)."""
        with self._throttle_budget("read"):
            return self._read_many_from_cosmos(ids, fields)

    def _read_many_from_cosmos(self, ids: Sequence[str], fields: str) -> dict[str, dict[str, Any]]:
        unique = list(dict.fromkeys(ids))
        if not unique:
            return {}
        if len(unique) <= self.read_many_max_keys:
            # ReadMany, not read_item: it answers a missing id by leaving it out, on Cosmos (a 404 inside)
            # and on the emulator, whose point read of a missing item answers 500 instead of 404.
            items = self._c.read_items([(i, i) for i in unique], executor=self._pool)
        else:
            # ReadMany hashes every id in pure Python (~0.3 ms per id): for many ids, `id IN (...)`
            # queries (the ones ReadMany itself sends, but to every physical partition) cost far less.
            chunks = [unique[i : i + _IDS_PER_QUERY] for i in range(0, len(unique), _IDS_PER_QUERY)]
            if len(chunks) == 1:
                items = self._query_ids(chunks[0], fields)
            else:
                futures = [self._pool.submit(self._query_ids, chunk, fields) for chunk in chunks]
                items = [item for future in futures for item in future.result()]
        return {item["id"]: item for item in items}

    def _query_ids(self, ids: list[str], fields: str) -> list[dict[str, Any]]:
        names = [f"@i{n}" for n in range(len(ids))]
        query = f"SELECT {fields} FROM c WHERE c.id IN ({','.join(names)})"
        parameters = [{"name": name, "value": i} for name, i in zip(names, ids, strict=True)]
        return list(
            self._c.query_items(
                query, parameters=parameters, enable_cross_partition_query=True, max_item_count=len(ids)
            )
        )

    def _cached_ttl(self, table: str) -> tuple[float | None, bool]:
        hit = self._ttl_cache.get(table)
        if hit is not None and hit[1] > time.monotonic():
            return hit[0], True
        return None, False

    def _remember_ttl(self, table: str, meta: dict[str, Any] | None) -> float | None:
        ttl = None if meta is None else meta.get("ttl_s")
        self._ttl_cache[table] = (ttl, time.monotonic() + self.meta_cache_seconds)
        return ttl

    def read(self, requests: Sequence[ReadRequest]) -> list[TableResult]:
        plans = []
        ids: list[str] = []
        stale: list[str] = []
        for table, keys in requests:
            prefix = self._id_prefix(table)
            table_ids = [self._id(prefix, encode_key(k)) for k in keys]
            ids.extend(table_ids)
            plans.append((table, keys, table_ids))
            if not self._cached_ttl(table)[1]:
                stale.append(table)
        # Expiry settings past their cache time ride along in the same ReadMany.
        found = self._read_many(ids + [_meta_id(t) for t in stale])
        for table in stale:
            self._remember_ttl(table, found.get(_meta_id(table)))
        now = time.time()
        results = []
        for table, keys, table_ids in plans:
            ttl = self._ttl_cache.get(table, (None, 0.0))[0]  # fresh, or refreshed just above
            cutoff = expiry_cutoff(ttl, now)
            rows = []
            for item_id in table_ids:
                item = found.get(item_id)
                if item is None or (cutoff is not None and item["ts"] <= cutoff):
                    rows.append(None)
                else:
                    rows.append(decode_row(item["v"]))
            results.append(TableResult(table, keys, rows))
        return results

    def _put(self, doc: dict[str, Any], etag: str | None) -> bool:
        """Create or conditionally replace one item; False when another writer changed it first."""
        try:
            with self._throttle_budget("write"):
                if etag is None:
                    self._c.create_item(doc)
                else:
                    self._c.replace_item(doc["id"], doc, etag=etag, match_condition=MatchConditions.IfNotModified)
        except (exceptions.CosmosResourceExistsError, exceptions.CosmosAccessConditionFailedError):
            return False
        except exceptions.CosmosResourceNotFoundError:
            return False  # deleted between our read and replace: decide again (it will be a create)
        return True

    def _write(self, batch: EncodedBatch) -> int:
        table = batch.table
        prefix = self._id_prefix(table)
        ids = [self._id(prefix, k) for k in batch.keys]
        # Fresh, not cached: the per-item ttl decides when Cosmos may delete the row.
        ttl = self._remember_ttl(table, self._read_many([_meta_id(table)]).get(_meta_id(table)))
        now = time.time()
        pending = list(range(len(ids)))
        written = 0
        for _ in range(_MAX_ATTEMPTS):
            current = self._read_many([ids[i] for i in pending], _WRITE_FIELDS)
            futures = []
            for i in pending:
                item = current.get(ids[i])
                if item is not None and item["ts"] > batch.ts[i]:
                    continue  # the stored row is newer: skipped
                doc = {"id": ids[i], "t": table, "ts": batch.ts[i], "v": batch.values[i]}
                if ttl is not None:
                    doc["ttl"] = max(1, int(batch.ts[i] / 1_000_000 + ttl - now) + 1)
                futures.append(
                    (i, self._pool.submit(self._put, doc, None if item is None else item["_etag"]))
                )
            pending = []
            for i, future in futures:
                if future.result():
                    written += 1
                else:
                    pending.append(i)
            if not pending:
                return written
        raise OnlineStoreError(
            f"table {table!r}: {len(pending)} rows still conflicted after {_MAX_ATTEMPTS} attempts "
            f"({written} written); retrying the batch is safe"
        )

    def drop_table(self, table: str) -> None:
        check_table(table)
        ids = [
            item["id"]
            for item in self._c.query_items(
                "SELECT c.id FROM c WHERE c.t = @t",
                parameters=[{"name": "@t", "value": table}],
                enable_cross_partition_query=True,
                max_item_count=1000,
            )
        ]
        for future in [self._pool.submit(self._delete, i) for i in ids]:
            future.result()
        self._ttl_cache.pop(table, None)

    def _delete(self, item_id: str) -> None:
        # Already gone is fine: another dropper or the TTL got there first.
        with contextlib.suppress(exceptions.CosmosResourceNotFoundError):
            self._c.delete_item(item_id, partition_key=item_id)

    def set_expiry(self, table: str, seconds: float | None) -> None:
        check_table(table)
        seconds = check_ttl(seconds)
        meta = {"id": _meta_id(table), "t": table, "ttl_s": seconds}
        self._c.upsert_item(meta)
        self._remember_ttl(table, meta)

    def get_expiry(self, table: str) -> float | None:
        check_table(table)
        return self._remember_ttl(table, self._read_many([_meta_id(table)]).get(_meta_id(table)))

    def ping(self) -> bool:
        try:
            self._c.read()
        except Exception:  # any failure means "not reachable"; ping never raises
            return False
        return True

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._client.close()
        if self._owned_credential is not None:
            self._owned_credential.close()
