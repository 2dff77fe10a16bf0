"""GRANT, REVOKE and SHOW GRANTS on feature tables and schemas, in Unity Catalog's syntax:

    GRANT privilege[, ...] ON [TABLE] schema.table TO principal[, ...]
    GRANT privilege[, ...] ON SCHEMA schema TO principal[, ...]
    REVOKE privilege[, ...] ON [TABLE|SCHEMA] name FROM principal[, ...]
    SHOW GRANTS [principal] ON [TABLE|SCHEMA] name

privilege: SELECT | MODIFY | ALL PRIVILEGES (or ALL). Keywords are case-insensitive; names and principals
may be quoted with backticks (`data-scientists`, `alice@example.com`) and, as in the seed's statements,
also appear bare. A trailing `;` is allowed. A malformed statement raises GrantSyntaxError naming what
was expected, what was found and where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from feature_store.offline.names import qualified

SecurableKind = Literal["TABLE", "SCHEMA"]
# Bare principals are one word; quoted ones may have inner spaces (Entra group names: `Data Scientists`).
PRINCIPAL = re.compile(r"[A-Za-z0-9_.@+\-]+(?: [A-Za-z0-9_.@+\-]+)*")
UNSUPPORTED_SECURABLES = {"CATALOG", "VIEW", "FUNCTION", "VOLUME", "MODEL", "CONNECTION", "EXTERNAL", "SHARE"}
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A backtick-quoted name (`` doubles a backtick), a bare word (dots included: they split names),
# or one punctuation character.
_TOKEN = re.compile(r"\s*(?:(?P<quoted>`(?:[^`]|``)*`)|(?P<word>[A-Za-z0-9_.@+\-]+)|(?P<punct>[,;]))")


class Privilege(StrEnum):
    SELECT = "SELECT"  # read rows: read_table, training sets, scoring, online lookups, serving
    MODIFY = "MODIFY"  # change rows and metadata: create_table, write_table, publish_table, tags
    ALL_PRIVILEGES = "ALL PRIVILEGES"  # SELECT and MODIFY, and manage: grant, revoke, drop_table

    def satisfied_by(self, held: set[Privilege] | frozenset[Privilege]) -> bool:
        return self in held or Privilege.ALL_PRIVILEGES in held


class GrantSyntaxError(ValueError):
    """A GRANT/REVOKE/SHOW GRANTS statement that can't be parsed."""


@dataclass(frozen=True)
class Securable:
    kind: SecurableKind
    name: str  # "schema.table" for a TABLE, "schema" for a SCHEMA

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"

    @classmethod
    def table(cls, name: str) -> Securable:
        return cls("TABLE", qualified(name))


@dataclass(frozen=True)
class GrantChange:
    action: Literal["GRANT", "REVOKE"]
    privileges: tuple[Privilege, ...]
    securable: Securable
    principals: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ShowGrants:
    securable: Securable
    principal: str | None
    text: str


Statement = GrantChange | ShowGrants


@dataclass(frozen=True)
class _Token:
    kind: str  # quoted | word | punct
    text: str
    start: int
    end: int

    @property
    def keyword(self) -> str:
        return self.text.upper() if self.kind == "word" else ""


def _tokenize(text: str) -> list[_Token]:
    tokens, at = [], 0
    while at < len(text):
        if not text[at:].strip():
            break
        match = _TOKEN.match(text, at)
        if not match:
            position = at + len(text[at:]) - len(text[at:].lstrip())
            if text[position] == "`":
                raise GrantSyntaxError(f"unterminated `quoted name` at character {position + 1} in: {text}")
            raise GrantSyntaxError(
                f"unexpected character {text[position]!r} at character {position + 1} in: {text}"
            )
        kind = match.lastgroup or ""
        tokens.append(_Token(kind, match.group(kind), match.start(kind), match.end()))
        at = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.tokens = _tokenize(self.text)
        self.at = 0

    # --- helpers

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def fail(self, expected: str) -> GrantSyntaxError:
        token = self.peek()
        found = f"{token.text!r} at character {token.start + 1}" if token else "the end of the statement"
        return GrantSyntaxError(f"expected {expected}, found {found}, in: {self.text}")

    def accept(self, *keywords: str) -> bool:
        """Consume the keywords if they come next, in order."""
        window = self.tokens[self.at : self.at + len(keywords)]
        if [t.keyword for t in window] != list(keywords):
            return False
        self.at += len(keywords)
        return True

    def expect(self, keyword: str, expected: str | None = None) -> None:
        if not self.accept(keyword):
            raise self.fail(expected or keyword)

    def adjacent_group(self, what: str) -> list[_Token]:
        """Tokens written without space between them (`schema`.`table`, alice@example.com)."""
        token = self.peek()
        if token is None or token.kind == "punct":
            raise self.fail(what)
        group = [token]
        self.at += 1
        while (nxt := self.peek()) and nxt.kind != "punct" and nxt.start == group[-1].end:
            group.append(nxt)
            self.at += 1
        return group

    # --- grammar

    def statement(self) -> Statement:
        if self.accept("GRANT"):
            return self.change("GRANT", "TO")
        if self.accept("REVOKE"):
            return self.change("REVOKE", "FROM")
        if self.accept("SHOW", "GRANTS"):
            return self.show()
        raise self.fail("GRANT, REVOKE or SHOW GRANTS")

    def change(self, action: Literal["GRANT", "REVOKE"], preposition: str) -> GrantChange:
        privileges = self.privileges()
        self.expect("ON", f"ON after the privileges ({', '.join(privileges)})")
        securable = self.securable()
        self.expect(preposition, f"{preposition} after '{securable}'")
        principals = [self.principal()]
        while self.accept_punct(","):
            principals.append(self.principal())
        self.end("',' between principals, or the end of the statement")
        return GrantChange(action, privileges, securable, tuple(dict.fromkeys(principals)), self.text)

    def show(self) -> ShowGrants:
        principal = None
        if not self.accept("ON"):
            principal = self.principal()
            self.expect("ON", f"ON after the principal {principal!r}")
        securable = self.securable()
        self.end()
        return ShowGrants(securable, principal, self.text)

    def privileges(self) -> tuple[Privilege, ...]:
        found: list[Privilege] = []
        while True:
            if self.accept("ALL", "PRIVILEGES") or self.accept("ALL"):
                found.append(Privilege.ALL_PRIVILEGES)
            elif self.accept("SELECT"):
                found.append(Privilege.SELECT)
            elif self.accept("MODIFY"):
                found.append(Privilege.MODIFY)
            else:
                token = self.peek()
                if token is not None and token.kind == "word" and token.keyword not in {"ON", "TO", "FROM"}:
                    raise GrantSyntaxError(
                        f"unknown privilege {token.text!r} at character {token.start + 1}: feature tables "
                        f"have SELECT, MODIFY and ALL PRIVILEGES, in: {self.text}"
                    )
                raise self.fail("a privilege (SELECT, MODIFY or ALL PRIVILEGES)")
            if not self.accept_punct(","):
                return tuple(dict.fromkeys(found))

    def securable(self) -> Securable:
        token = self.peek()
        following = self.tokens[self.at + 1] if self.at + 1 < len(self.tokens) else None
        if (
            token is not None
            and token.keyword in UNSUPPORTED_SECURABLES
            and following is not None
            and following.kind != "punct"
            and following.keyword not in {"TO", "FROM"}  # a table called `catalog` is still a table
        ):
            raise GrantSyntaxError(
                f"{token.text} privileges are not supported: grants here are ON TABLE schema.table or ON "
                f"SCHEMA schema, in: {self.text}"
            )
        kind: SecurableKind = "SCHEMA" if self.accept("SCHEMA") else "TABLE"
        if kind == "TABLE":
            self.accept("TABLE")
        group = self.adjacent_group(f"a {kind.lower()} name")
        for before, after in zip(group, group[1:], strict=False):
            if (before.kind == "quoted" and not after.text.startswith(".")) or (
                after.kind == "quoted" and not before.text.endswith(".")
            ):
                raise GrantSyntaxError(
                    f"{''.join(t.text for t in group)!r}: a `quoted` name part must be separated from the "
                    f"next by '.', in: {self.text}"
                )
        parts, current = [], ""
        for token in group:
            if token.kind == "quoted":
                current += token.text[1:-1].replace("``", "`")
                continue
            pieces = token.text.split(".")
            current += pieces[0]
            for piece in pieces[1:]:
                parts.append(current)
                current = piece
        parts.append(current)
        written = "".join(t.text for t in group)
        bad = [p for p in parts if not IDENTIFIER.fullmatch(p)]
        if bad:
            raise GrantSyntaxError(
                f"{written!r} is not a {kind.lower()} name: each part must be letters, digits and _ "
                f"(not starting with a digit), in: {self.text}"
            )
        if kind == "SCHEMA":
            if len(parts) != 1:
                raise GrantSyntaxError(f"{written!r} is not a schema name (one identifier), in: {self.text}")
            return Securable("SCHEMA", parts[0])
        if len(parts) > 2:
            raise GrantSyntaxError(
                f"{written!r} has {len(parts)} parts; feature tables are named schema.table "
                f"(there are no catalogs), in: {self.text}"
            )
        return Securable.table(".".join(parts))

    def principal(self) -> str:
        group = self.adjacent_group("a principal (user or group)")
        name = "".join(t.text[1:-1].replace("``", "`") if t.kind == "quoted" else t.text for t in group)
        if not PRINCIPAL.fullmatch(name):
            raise GrantSyntaxError(
                f"{name!r} is not a principal name: use letters, digits and _ . @ + - (and single inner "
                f"spaces inside backticks), in: {self.text}"
            )
        return name

    def accept_punct(self, char: str) -> bool:
        token = self.peek()
        if token is not None and token.kind == "punct" and token.text == char:
            self.at += 1
            return True
        return False

    def end(self, expected: str = "the end of the statement") -> None:
        self.accept_punct(";")
        if self.peek() is not None:
            raise self.fail(expected)


def parse_statement(text: str) -> Statement:
    """One GRANT, REVOKE or SHOW GRANTS statement; GrantSyntaxError if it is anything else."""
    if not isinstance(text, str) or not text.strip():
        raise GrantSyntaxError("empty statement: expected GRANT, REVOKE or SHOW GRANTS")
    first = text.split(None, 1)[0].upper()
    if first not in {"GRANT", "REVOKE", "SHOW"}:  # other SQL: say so before its syntax confuses the tokenizer
        raise GrantSyntaxError(
            f"expected GRANT, REVOKE or SHOW GRANTS, found {first!r} (queries run on client.spark.sql), "
            f"in: {text.strip()}"
        )
    return _Parser(text).statement()


def split_statements(script: str) -> list[str]:
    """A script's statements, split on `;` outside backticks (for the CLI and files of grants)."""
    statements, current, quoted = [], [], False
    for char in script:
        if char == "`":
            quoted = not quoted
        if char == ";" and not quoted:
            statements.append("".join(current))
            current = []
        else:
            current.append(char)
    statements.append("".join(current))
    return [s.strip() for s in statements if s.strip()]
