"""On-demand features: pure Python functions of request fields and looked-up features, computed the
same way in create_training_set, score_batch and the serving endpoint, and saved with a model's
feature spec (by reference: `module:qualname`, so the serving process imports the same code)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from feature_store.declarations.errors import require
from feature_store.declarations.sources import SPARK_TYPES, SparkType, check_identifier


@dataclass(frozen=True)
class FeatureFunction:
    """`output = function(**{parameter: value of its input})`, row by row.

    FeatureFunction("amount_vs_avg_30d", amount_vs_average, "double",
                    inputs={"amount": "amount", "average": "avg_spend_30d"})
    Each input names a request field (a column of the rows being scored) or a feature the model looks
    up; the function must be importable by name (a module-level def) and must not read anything else.
    A null input gives a null output without calling the function.
    """

    name: str
    function: Callable[..., Any]
    dtype: SparkType
    inputs: Mapping[str, str] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        where = f"function {self.name!r}"
        check_identifier(self.name, where, "name")
        require(callable(self.function), where, "function", "not callable")
        require(
            self.dtype in SPARK_TYPES,
            where,
            "dtype",
            f"{self.dtype!r} is not one of {', '.join(SPARK_TYPES)}",
        )
        qualname = getattr(self.function, "__qualname__", "")
        require("<" not in qualname, where, "function",
                f"{qualname or self.function!r} is not importable by name: use a module-level def, not a lambda or a nested function")  # fmt: skip
        try:
            parameters = inspect.signature(self.function).parameters
        except (TypeError, ValueError):
            parameters = {}
        missing = [
            p for p, v in parameters.items() if v.default is inspect.Parameter.empty and p not in self.inputs
        ]
        require(not missing, where, "inputs", f"no input given for parameter(s) {', '.join(missing)}")
        unknown = [p for p in self.inputs if parameters and p not in parameters]
        require(not unknown, where, "inputs", f"{', '.join(unknown)} is not a parameter of {qualname}")

    @property
    def reference(self) -> str:
        return f"{self.function.__module__}:{self.function.__qualname__}"

    def __call__(self, values: Mapping[str, Any]) -> Any:
        """The function on one row (`values`: input name -> value)."""
        arguments = {parameter: values[source] for parameter, source in self.inputs.items()}
        if any(v is None for v in arguments.values()):
            return None
        return self.function(**arguments)
