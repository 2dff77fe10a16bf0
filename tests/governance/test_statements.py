"""GRANT / REVOKE / SHOW GRANTS parsing: the seed's statements as written, the variants Unity Catalog
accepts, a clear error for each way a statement can be malformed, and a round trip over generated
statements."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feature_store.governance import (
    GrantChange,
    GrantSyntaxError,
    Privilege,
    Securable,
    ShowGrants,
    parse_statement,
    split_statements,
)

CUSTOMERS = Securable("TABLE", "feature_store.customer_features")


@pytest.mark.parametrize(
    "text",
    [
        # reference/feature-store-architecture.txt, verbatim
        "GRANT SELECT ON TABLE feature_store.customer_features TO `data-scientists`;",
        # the spelling, without backticks
        "GRANT SELECT ON TABLE feature_store.customer_features TO data-scientists",
        "grant select on feature_store.customer_features to `data-scientists`",
        "GRANT SELECT ON TABLE `feature_store`.`customer_features` TO `data-scientists`",
        "  GRANT\n  SELECT\n ON TABLE feature_store.customer_features\n TO data-scientists ; ",
    ],
)
def test_the_seed_grant_in_every_accepted_spelling(text: str) -> None:
    assert parse_statement(text) == GrantChange(
        "GRANT", (Privilege.SELECT,), CUSTOMERS, ("data-scientists",), text.strip()
    )


def test_all_privileges_lists_and_several_principals() -> None:
    seed = parse_statement(
        "GRANT ALL PRIVILEGES ON TABLE feature_store.customer_features TO `feature-engineers`;"
    )
    assert seed.privileges == (Privilege.ALL_PRIVILEGES,)
    assert seed.principals == ("feature-engineers",)
    both = parse_statement(
        "GRANT SELECT, MODIFY ON feature_store.x TO alice@example.com, `bob`, alice@example.com"
    )
    assert both.privileges == (Privilege.SELECT, Privilege.MODIFY)
    assert both.principals == ("alice@example.com", "bob")  # duplicates collapse
    assert parse_statement("GRANT ALL ON x TO a").privileges == (Privilege.ALL_PRIVILEGES,)
    assert parse_statement("GRANT ALL ON x TO a").securable == Securable("TABLE", "default.x")


def test_quoted_principals_may_have_inner_spaces_and_a_table_may_be_called_catalog() -> None:
    assert parse_statement("GRANT SELECT ON a.b TO `Data Scientists`").principals == ("Data Scientists",)
    assert parse_statement("GRANT SELECT ON catalog TO x").securable == Securable("TABLE", "default.catalog")


def test_revoke_schema_grants_and_show_grants() -> None:
    revoke = parse_statement("REVOKE MODIFY ON SCHEMA feature_store FROM carol")
    assert (revoke.action, revoke.securable, revoke.principals) == (
        "REVOKE", Securable("SCHEMA", "feature_store"), ("carol",),
    )  # fmt: skip
    assert parse_statement("SHOW GRANTS ON TABLE feature_store.customer_features") == ShowGrants(
        CUSTOMERS, None, "SHOW GRANTS ON TABLE feature_store.customer_features"
    )
    assert parse_statement("show grants `alice` on feature_store.customer_features").principal == "alice"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty statement"),
        ("SELECT * FROM feature_store.customer_features", "expected GRANT, REVOKE or SHOW GRANTS"),
        ("GRANT READ ON TABLE a.b TO x", "unknown privilege 'READ'"),
        ("GRANT ON TABLE a.b TO x", "expected a privilege"),
        ("GRANT SELECT, ON TABLE a.b TO x", "expected a privilege"),
        ("GRANT SELECT TABLE a.b TO x", "expected ON after the privileges (SELECT), found 'TABLE'"),
        ("GRANT SELECT ON TABLE a.b x", "expected TO after 'TABLE a.b', found 'x'"),
        ("GRANT SELECT ON TABLE a.b TO", "expected a principal"),
        ("GRANT SELECT ON TABLE a.b TO x,", "expected a principal"),
        ("GRANT SELECT ON TABLE a.b TO x y", "expected ',' between principals"),
        ("REVOKE SELECT ON TABLE a.b TO x", "expected FROM after 'TABLE a.b', found 'TO'"),
        ("GRANT SELECT ON TABLE a.b FROM x", "expected TO after 'TABLE a.b', found 'FROM'"),
        ("GRANT SELECT ON TABLE main.a.b TO x", "has 3 parts"),
        ("GRANT SELECT ON TABLE 1a.b TO x", "'1a.b' is not a table name"),
        ("GRANT SELECT ON TABLE a..b TO x", "is not a table name"),
        ("GRANT SELECT ON SCHEMA a.b TO x", "is not a schema name"),
        ("GRANT SELECT ON TABLE a.b TO `x", "unterminated `quoted name`"),
        ("GRANT SELECT ON TABLE a.b TO `x/y`", "'x/y' is not a principal name"),
        ("GRANT SELECT ON TABLE a.b TO (x)", "unexpected character '('"),
        ("GRANT SELECT ON TABLE a.b TO x; GRANT SELECT ON TABLE a.b TO y", "expected ',' between principals"),
        ("SHOW GRANTS alice", "expected ON after the principal 'alice'"),
        ("GRANT SELECT ON a.`b`x TO y", "a `quoted` name part must be separated from the next by '.'"),
        ("GRANT SELECT ON `a`b TO y", "a `quoted` name part must be separated"),
        ("GRANT SELECT ON CATALOG main TO y", "CATALOG privileges are not supported"),
        ("GRANT SELECT ON VIEW a.b TO y", "VIEW privileges are not supported"),
    ],
)
def test_malformed_statements_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(GrantSyntaxError) as raised:
        parse_statement(text)
    assert message in str(raised.value)
    if text:
        assert text in str(raised.value)  # the statement is quoted, so a script's failing line is findable


def test_scripts_split_on_semicolons_outside_backticks() -> None:
    script = "GRANT SELECT ON a.b TO `odd;name`;\n\nREVOKE SELECT ON a.b FROM y;  "
    assert split_statements(script) == ["GRANT SELECT ON a.b TO `odd;name`", "REVOKE SELECT ON a.b FROM y"]


_ident = st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True)
_principal = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.@+\-]{0,12}", fullmatch=True)


def _quoted(name: str, draw_quote: bool) -> str:
    return f"`{name}`" if draw_quote else name


@given(
    action=st.sampled_from(["GRANT", "REVOKE"]),
    privileges=st.lists(st.sampled_from(list(Privilege)), min_size=1, max_size=3, unique=True),
    schema=_ident,
    table=_ident,
    principals=st.lists(_principal, min_size=1, max_size=4, unique=True),
    quote=st.booleans(),
    table_keyword=st.booleans(),
    upper=st.booleans(),
)
def test_rendered_statements_parse_back(
    action, privileges, schema, table, principals, quote, table_keyword, upper
):
    """Any statement we can write down parses to what was written, however it is quoted and cased."""
    words = lambda s: s if upper else s.lower()  # noqa: E731
    text = (
        f"{words(action)} {', '.join(words(p.value) for p in privileges)} {words('ON')} "
        f"{words('TABLE') + ' ' if table_keyword else ''}{_quoted(schema, quote)}.{_quoted(table, quote)} "
        f"{words('TO' if action == 'GRANT' else 'FROM')} {', '.join(_quoted(p, quote) for p in principals)}"
    )
    statement = parse_statement(text)
    assert statement == GrantChange(
        action, tuple(privileges), Securable("TABLE", f"{schema}.{table}"), tuple(principals), text
    )
