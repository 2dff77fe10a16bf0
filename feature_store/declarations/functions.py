"""On-demand features: pure Python functions of request fields and looked-up features, computed the
same way in create_training_set, score_batch and the serving endpoint, and saved with a model's
feature spec (by reference: `module:qualname`, so the serving process imports the same code)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, MutableMapping, Sequence
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
        """The function on one row (`values`: column -> value), its result cast to `dtype`.

        The cast is what makes the three paths agree: Spark's Python UDF turns an `int` returned for a
        `double` into null, while the serving endpoint would pass it on; here both see `float(3)`."""
        try:
            arguments = {parameter: values[source] for parameter, source in self.inputs.items()}
        except KeyError as missing:
            raise FeatureFunctionError(
                f"on-demand feature {self.name!r} needs {missing.args[0]!r}, which is neither a request "
                "field nor a looked-up feature"
            ) from None
        if any(v is None for v in arguments.values()):
            return None
        try:
            result = self.function(**arguments)
        except Exception as exc:
            raise FeatureFunctionError(
                f"on-demand feature {self.name!r} ({self.reference}) failed: {type(exc).__name__}: {exc}"
            ) from exc
        return None if result is None else _CASTS[self.dtype](result)

    def to_spec(self) -> dict[str, Any]:
        """What a logged model keeps of it: enough to import and call it again (`from_spec`)."""
        return {"name": self.name, "function": self.reference, "dtype": self.dtype, "inputs": dict(self.inputs)}

    @classmethod
    def from_spec(cls, entry: Mapping[str, Any]) -> FeatureFunction:
        module_name, _, qualname = entry["function"].partition(":")
        try:
            target: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                target = getattr(target, part)
        except (ImportError, AttributeError) as exc:
            raise FeatureFunctionError(
                f"on-demand feature {entry['name']!r}: can't import {entry['function']} ({exc}); the "
                "process that scores the model must have the module that defines it installed"
            ) from None
        return cls(entry["name"], target, entry["dtype"], entry["inputs"])


class FeatureFunctionError(ValueError):
    """An on-demand feature could not be computed; the message names it."""


_CASTS: dict[str, Callable[[Any], Any]] = {
    "double": float,
    "bigint": int,
    "int": int,
    "string": str,
    "boolean": bool,
    "timestamp": lambda v: v,
    "date": lambda v: v,
}


def apply_functions(functions: Sequence[FeatureFunction], values: MutableMapping[str, Any]) -> None:
    """Add each function's output to `values` (one row), in order: a later function may use an earlier
    one's output."""
    for function in functions:
        values[function.name] = function(values)
