"""The one error a feature repo's declarations raise: it names the declaration and the field."""

from __future__ import annotations


class DeclarationError(ValueError):
    """`<declaration>.<field>: <problem>`, e.g. `feature_store.customer_features.features[2].column:
    unknown column 'amout' of source 'transactions' (columns: ...)`."""

    def __init__(self, declaration: str, field: str, problem: str) -> None:
        self.declaration, self.field, self.problem = declaration, field, problem
        super().__init__(f"{declaration}.{field}: {problem}")


def require(condition: bool, declaration: str, field: str, problem: str) -> None:
    if not condition:
        raise DeclarationError(declaration, field, problem)
