"""The Redis online store (self-hosted Redis, or Azure Cache for Redis over TLS on 6380).

Key layout (one string per row, so a read of any number of rows across tables is ONE `MGET`):
- `fs:<table>:<encoded key>` -> the encoded row `[<feature_ts µs>,{features}]` (see `encoding.py`),
  e.g. `fs:customer_features:42`, `fs:orders:"DE",1007` for a composite key.
- `fsmeta:<table>` -> the table's expiry in seconds (absent: rows never expire).
No `{...}` hash tags: this targets non-clustered Redis (Azure Cache Basic/Standard/Premium without
clustering); a cluster would need keys of one MGET in one slot.

Monotonic writes: one Lua script (EVALSHA) per chunk of rows. It reads every stored row's timestamp
(the leading integer of its value, so no JSON parser in Lua), then SETs the rows whose feature_ts is
>= the stored one; a script runs atomically, so concurrent writers can't interleave between the
compare and the set. It also reads `fsmeta:<table>` and sets PEXPIREAT feature_ts + TTL so Redis
reclaims expired rows (reads filter on the TTL anyway). All chunks of a batch go in one pipeline.

Reads: one MGET carrying the meta keys of the requested tables and all row keys (MGETs of at most
`mget_chunk` keys pipelined for huge requests), decoded together (`decode_rows`: one orjson call per read).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.credentials import CredentialProvider

from feature_store.online.base import (
    DEFAULT_MAX_ROW_BYTES,
    EncodedBatch,
    OnlineStore,
    ReadRequest,
    TableResult,
    check_table,
    check_ttl,
    expiry_cutoff,
)
from feature_store.online.encoding import OnlineStoreError, decode_rows, encode_key, row_ts

# KEYS[1]: the table's meta key; KEYS[2..]: row keys; ARGV[i-1]: the encoded row for KEYS[i].
_WRITE_SCRIPT = """
local ttl = redis.call('GET', KEYS[1])
local ttl_ms = ttl and math.floor(tonumber(ttl) * 1000) or nil
local land, stamps = {}, {}
for i = 2, #KEYS do
  local nts = tonumber(string.match(ARGV[i - 1], '^%[(%-?%d+),'))
  local cur = redis.call('GET', KEYS[i])
  local ok = true
  if cur then
    local cts = tonumber(string.match(cur, '^%[(%-?%d+),'))
    if not cts then
      return redis.error_reply('feature store: ' .. KEYS[i] .. ' does not hold a feature row')
    end
    ok = nts >= cts
  end
  land[i], stamps[i] = ok, nts
end
local written = 0
for i = 2, #KEYS do
  if land[i] then
    redis.call('SET', KEYS[i], ARGV[i - 1])
    if ttl_ms then
      redis.call('PEXPIREAT', KEYS[i], string.format('%d', math.floor(stamps[i] / 1000) + ttl_ms + 1))
    end
    written = written + 1
  end
end
return written
"""


class RedisOnlineStore(OnlineStore):
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        ssl: bool = False,
        socket_timeout: float = 5.0,
        socket_connect_timeout: float = 5.0,
        max_row_bytes: int = DEFAULT_MAX_ROW_BYTES,
        rows_per_script: int = 500,
        mget_chunk: int = 10_000,
        client: redis.Redis | None = None,
        credential_provider: CredentialProvider | None = None,
        **redis_kwargs: Any,
    ):
        """`ssl=True` for Azure Cache for Redis (port 6380, access key as `password`, or Entra ID: a
        `credential_provider` from feature_store.azure.identity, whose token refresh stops at `close`);
        extra keyword arguments go to `redis.Redis` (e.g. `ssl_ca_certs`). Or pass a ready `client`."""
        self._credential_provider = credential_provider
        self._r = client or redis.Redis(
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            ssl=ssl,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_connect_timeout,
            credential_provider=credential_provider,
            **redis_kwargs,
        )
        self.max_row_bytes = max_row_bytes
        self.rows_per_script = rows_per_script
        self.mget_chunk = mget_chunk
        self._script = self._r.register_script(_WRITE_SCRIPT)
        self._prefixes: dict[str, str] = {}

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisOnlineStore:
        """e.g. `rediss://:<access key>@<name>.redis.cache.windows.net:6380/0`."""
        return cls(client=redis.Redis.from_url(url), **kwargs)

    def _prefix(self, table: str) -> str:
        prefix = self._prefixes.get(table)
        if prefix is None:
            prefix = self._prefixes[table] = f"fs:{check_table(table)}:"
        return prefix

    def _write(self, batch: EncodedBatch) -> int:
        prefix = self._prefix(batch.table)
        meta = f"fsmeta:{batch.table}"
        keys = [prefix + k for k in batch.keys]
        step = self.rows_per_script
        chunks = [(keys[i : i + step], batch.values[i : i + step]) for i in range(0, len(keys), step)]
        for attempt in range(2):
            pipe = self._r.pipeline(transaction=False)
            for chunk_keys, chunk_values in chunks:
                pipe.evalsha(self._script.sha, len(chunk_keys) + 1, meta, *chunk_keys, *chunk_values)
            results = pipe.execute(raise_on_error=False)
            errors = [r for r in results if isinstance(r, Exception)]
            if not errors:
                return sum(results)
            if attempt == 0 and all(isinstance(e, redis.exceptions.NoScriptError) for e in errors):
                # Script cache empty (server restarted or flushed): load and replay. Replaying chunks that
                # did run is harmless: an equal feature_ts overwrites with the same value.
                self._r.script_load(_WRITE_SCRIPT)
                continue
            raise OnlineStoreError(f"table {batch.table!r}: redis write failed: {errors[0]}") from errors[0]
        raise AssertionError("unreachable")

    def read(self, requests: Sequence[ReadRequest]) -> list[TableResult]:
        if not requests:
            return []
        keys = [f"fsmeta:{table}" for table, _ in requests]
        for table, req_keys in requests:
            prefix = self._prefix(table)
            keys.extend([prefix + encode_key(k) for k in req_keys])
        if len(keys) <= self.mget_chunk:
            values = self._r.mget(keys)
        else:
            pipe = self._r.pipeline(transaction=False)
            for i in range(0, len(keys), self.mget_chunk):
                pipe.mget(keys[i : i + self.mget_chunk])
            values = [v for part in pipe.execute() for v in part]
        now = time.time()
        results = []
        offset = len(requests)
        for i, (table, req_keys) in enumerate(requests):
            chunk = values[offset : offset + len(req_keys)]
            offset += len(req_keys)
            ttl = values[i]
            if ttl is not None:
                cutoff = expiry_cutoff(float(ttl), now)
                chunk = [None if v is None or row_ts(v) <= cutoff else v for v in chunk]
            rows = decode_rows(chunk)
            results.append(TableResult(table, req_keys, rows))
        return results

    def drop_table(self, table: str) -> None:
        prefix = self._prefix(table)
        batch: list[bytes] = []
        # SCAN, not KEYS: never block the server; table names hold no glob characters.
        for key in self._r.scan_iter(match=prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self._r.unlink(*batch)
                batch.clear()
        if batch:
            self._r.unlink(*batch)
        self._r.delete(f"fsmeta:{table}")

    def set_expiry(self, table: str, seconds: float | None) -> None:
        check_table(table)
        seconds = check_ttl(seconds)
        if seconds is None:
            self._r.delete(f"fsmeta:{table}")
        else:
            self._r.set(f"fsmeta:{table}", repr(seconds))

    def get_expiry(self, table: str) -> float | None:
        value = self._r.get(f"fsmeta:{check_table(table)}")
        return None if value is None else float(value)

    def ping(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.exceptions.RedisError:
            return False

    def close(self) -> None:
        self._r.close()
        if self._credential_provider is not None:
            from feature_store.azure.identity import stop_refreshing

            stop_refreshing(self._credential_provider)
