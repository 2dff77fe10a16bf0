"""Bearer tokens for the serving endpoint, configured as SHA-256 hashes mapped to principals.

The server never holds a token, only its hash: `featurestore serve-token --principal NAME` makes a
random token (256 bits) and prints the line to configure. With tokens that random a plain SHA-256 is
enough (nothing to brute-force); a presented token's hash is compared with every configured hash in
constant time, so timing tells nothing about which hash, or how much of one, matched.

Configuration: `FEATURE_STORE_SERVING_TOKENS` (or `--tokens-file`) holds lines `sha256:<hex> <principal>`;
blank lines and `#` comments are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

TOKENS_ENV = "FEATURE_STORE_SERVING_TOKENS"
_LINE = re.compile(r"sha256:(?P<hash>[0-9a-f]{64})\s+(?P<principal>\S+)")


class TokenConfigError(ValueError):
    """The token configuration can't be read; the message names the line, never a secret."""


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def new_token(principal: str) -> tuple[str, str]:
    """(token to hand to the client, configuration line for the server)."""
    token = "fst_" + secrets.token_urlsafe(32)
    return token, f"{hash_token(token)} {principal}"


class TokenAuthenticator:
    def __init__(self, hashes: dict[str, str]) -> None:
        """hashes: "sha256:<hex>" -> principal."""
        self._entries = [(bytes.fromhex(h.removeprefix("sha256:")), p) for h, p in hashes.items()]
        self.principals = sorted(set(hashes.values()))

    @classmethod
    def from_lines(cls, lines: Iterable[str], source: str) -> TokenAuthenticator:
        hashes: dict[str, str] = {}
        for number, raw in enumerate(lines, start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            match = _LINE.fullmatch(line)
            if not match:
                raise TokenConfigError(
                    f"{source} line {number}: expected 'sha256:<64 hex digits> <principal>' "
                    "(make one with `featurestore serve-token --principal NAME`)"
                )
            hashes["sha256:" + match["hash"]] = match["principal"]
        if not hashes:
            raise TokenConfigError(f"{source}: no tokens configured; every request would be refused")
        return cls(hashes)

    @classmethod
    def from_config(cls, tokens_file: str | None = None) -> TokenAuthenticator:
        if tokens_file:
            return cls.from_lines(Path(tokens_file).read_text().splitlines(), tokens_file)
        value = os.environ.get(TOKENS_ENV, "")
        return cls.from_lines(value.replace(";", "\n").splitlines(), TOKENS_ENV)

    def principal(self, authorization: str | None) -> str | None:
        """The principal behind an `Authorization: Bearer <token>` header, or None."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = hashlib.sha256(token.strip().encode()).digest()
        found = None
        for digest, principal in self._entries:  # no early exit: the time doesn't depend on the match
            if hmac.compare_digest(presented, digest):
                found = principal
        return found
