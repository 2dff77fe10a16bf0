"""Keep secrets out of text that people see: errors, log lines, CLI output, Dagster metadata.

Two rules cover what this project prints: a URI's password (`scheme://user:password@host`) and the
value of any secret variable declared in feature_store/runtime/variables.py that is set in this process.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from feature_store.runtime.variables import secret_values

MASK = "***"
_URI_PASSWORD = re.compile(r"(?P<prefix>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)(?P<password>[^@\s]+)@")
# Short values (a "0" or "true" someone marked secret) would mask unrelated text, and can't be a real key.
_MIN_SECRET_LENGTH = 6


def redact_uri(uri: str) -> str:
    """`postgresql://user:pw@host/db` -> `postgresql://user:***@host/db`."""
    return _URI_PASSWORD.sub(lambda m: f"{m['prefix']}{MASK}@", uri)


def redact_text(text: str, env: Mapping[str, str] | None = None) -> str:
    from feature_store.runtime.secrets import resolved_values

    text = redact_uri(text)
    for value in sorted([*secret_values(env), *resolved_values()], key=len, reverse=True):
        if len(value) >= _MIN_SECRET_LENGTH:
            text = text.replace(value, MASK)
    return text
