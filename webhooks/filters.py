"""Subscription filters: a small, MongoDB-like language matched against an event's envelope.

Pure functions, no database and no settings: `validate` says what is wrong with a filter (against
the JSON Schemas of the envelopes it will meet), `compile` turns a valid one into a predicate
once, and the fan-out calls that predicate for every event (`webhooks.pipeline.subscribers` keeps it with
the endpoint).

The language (CONTRACT §6):

- A filter is a JSON object. Each key is a dotted path into the envelope (`"type"`,
  `"data.order.total"`, `"data.order.items.0.quantity"`: a number indexes a list) whose value is a
  literal (equality) or an operator object (`{"$gte": "100"}`, several operators: all must hold),
  or one of `$and`, `$or` (a non-empty list of filters) and `$not` (a filter). Keys side by side
  must all hold. `{}` matches everything.
- Operators on a path: `$eq $ne $gt $gte $lt $lte $in $nin $exists $contains`, and `$not` (an
  operator object or a literal) to negate them.
- Numbers and decimal strings (money, `"125.50"`) compare as decimals, never as floats, with every
  comparison: `"125.5"` equals `"125.50"` and `125.5`. Other strings compare as strings (RFC 3339
  timestamps order correctly). `true` is not `1`. Values of different kinds are never equal nor
  ordered.
- A missing path matches nothing but `$ne`, `$nin`, `{"$exists": false}` and negations, as in
  MongoDB; `null` is a value (present), so `{"path": null}` does not match a missing path.
- `$contains`: the value is a list with an element equal to the operand, or a string holding the
  operand string.
"""

import functools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

Predicate = Callable[[Any], bool]

# Limits: a filter runs for every event on every endpoint subscribed to it (10,000 endpoints on
# one event, say), so its cost per event must stay small and bounded.
MAX_DEPTH = 10  # JSON levels (objects and lists): two levels of $and/$or inside each other fit
MAX_CONDITIONS = 50  # operators and literals, each one comparison per event
MAX_BYTES = 4096  # compact JSON; bounds $in lists and literals, which the two above do not
MAX_TYPES_NAMED = 5  # subscribed types named in an "unknown path" message

COMPARISONS = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}
FIELD_OPERATORS = ["$eq", "$ne", *COMPARISONS, "$in", "$nin", "$exists", "$contains", "$not"]
LOGICAL_OPERATORS = ["$and", "$or", "$not"]

_ABSENT = object()  # what a path that is not in the envelope holds
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}", re.ASCII)
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


class FilterError(ValueError):
    """A filter that cannot be compiled: `errors` maps where in it to what is wrong."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{where}: {' '.join(messages)}" for where, messages in errors.items()))
        self.errors = errors


def validate(spec: Any, *, schemas: Mapping[str, dict] | None = None, at: str = "filter") -> dict[str, list[str]]:
    """What is wrong with `spec` (None and {} are fine), keyed by where in it (`at` and the keys
    down to the problem: `filter.$or.0.data.order.totl`); empty when it is valid. With `schemas`
    (event type → JSON Schema of its envelope), every path must be in at least one of them."""
    if spec is None:
        return {}
    if errors := _shape_errors(spec, at):
        return errors
    builder = _built(spec, _canonical(spec), at)
    if schemas is not None:
        for where, path in builder.paths:
            if not any(has_path(schema, path) for schema in schemas.values()):
                builder.error(where, _unknown_path(path, schemas))
    return builder.errors


def compile(spec: Any) -> Predicate | None:
    """The predicate of a filter (called with an envelope), or None for no filter (None or {}).
    Raises FilterError if it does not validate (without schemas).

    Compiled filters are kept by their canonical JSON (COMPILED_KEPT of them): when the fan-out
    reads its subscriptions again (an endpoint changed somewhere), unchanged filters cost a
    lookup, not a compilation (some 50 µs each)."""
    if spec is None or spec == {}:
        return None
    if errors := _shape_errors(spec, "filter"):
        raise FilterError(errors)
    return _compiled(_canonical(spec))


def matches(spec: Any, envelope: Mapping) -> bool:
    """Whether the envelope passes the filter (no filter: every envelope does)."""
    predicate = compile(spec)
    return predicate is None or predicate(envelope)


def has_path(schema: dict, path: str) -> bool:
    """Whether a JSON Schema allows a value at this dotted path: `properties` by name, `items` by
    index, `$ref` into the root's `$defs`, any branch of `allOf`/`oneOf`/`anyOf`, and anything
    below a schema that says nothing of its shape (`{}`) or allows `additionalProperties`."""
    return _has(schema, tuple(path.split(".")), schema.get("$defs", {}), frozenset())


COMPILED_KEPT = 10_000  # distinct filters kept compiled per process: a few KiB each


@functools.lru_cache(maxsize=COMPILED_KEPT)
def _compiled(text: str) -> Predicate:
    builder = _built(json.loads(text), text, "filter")
    if builder.errors:
        raise FilterError(builder.errors)
    return builder.predicate


def _canonical(spec: dict) -> str:
    """The filter as compact JSON with sorted keys: its size, and its key among the compiled ones
    (keys side by side are a conjunction, so their order does not matter)."""
    return json.dumps(spec, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _shape_errors(spec: Any, at: str) -> dict[str, list[str]]:
    """Not an object, or deeper than MAX_DEPTH: nothing else is looked at (nor serialised)."""
    if not isinstance(spec, dict):
        return {at: ["A filter is a JSON object (or null for none)."]}
    if flaw := _first_flaw(spec, at):
        return {flaw[0]: [flaw[1]]}
    return {}


def _built(spec: dict, text: str, at: str) -> "_Builder":
    """The filter walked once: its predicate, its paths, and what is wrong with it besides its
    shape (too large, too many conditions, an unknown operator…)."""
    builder = _Builder()
    if len(text.encode()) > MAX_BYTES:
        builder.error(at, f"The filter is larger than {MAX_BYTES} bytes (as compact JSON).")
        return builder
    builder.predicate = builder.document(spec, at)
    if builder.conditions > MAX_CONDITIONS:
        builder.error(at, f"The filter has {builder.conditions} conditions; at most {MAX_CONDITIONS}.")
    return builder


# --- Building the predicate ------------------------------------------------------------------


class _Builder:
    """One walk over a filter: its predicate, its errors, its paths and its size."""

    def __init__(self):
        self.errors: dict[str, list[str]] = {}
        self.paths: list[tuple[str, str]] = []  # (where, dotted path)
        self.conditions = 0
        self.predicate: Predicate = _never

    def error(self, where: str, message: str) -> None:
        self.errors.setdefault(where, []).append(message)

    def document(self, node: Any, where: str) -> Predicate:
        """A filter object: every key must hold."""
        if not isinstance(node, dict):
            self.error(where, "A filter is a JSON object.")
            return _never
        parts = []
        for key, value in node.items():
            here = f"{where}.{key}"
            if key in ("$and", "$or"):
                if not isinstance(value, list) or not value:
                    self.error(here, f"{key} takes a non-empty list of filters.")
                    continue
                branches = [self.document(item, f"{here}.{index}") for index, item in enumerate(value)]
                parts.append(_all(branches) if key == "$and" else _any(branches))
            elif key == "$not":
                parts.append(_negated(self.document(value, here)))
            elif key.startswith("$"):
                self.error(
                    here,
                    f"Unknown operator {key!r}: a filter's keys are dotted paths or {', '.join(LOGICAL_OPERATORS)}.",
                )
            elif not all(key.split(".")):
                self.error(here, f"Not a dotted path: {key!r} (names joined by single dots, as in data.order.total).")
            else:
                self.paths.append((here, key))
                parts.append(_at(key, self.condition(value, here)))
        return _all(parts)

    def condition(self, value: Any, where: str) -> Predicate:
        """What the value at a path must be: equal to a literal, or pass every operator."""
        if isinstance(value, dict) and value:
            operators = [key for key in value if key.startswith("$")]
            if len(operators) == len(value):
                return _all([self.operator(name, operand, f"{where}.{name}") for name, operand in value.items()])
            self.error(
                where,
                "An object here holds operators only ($eq, $gt, …); to match a field inside it, "
                "use a longer dotted path (data.order.status).",
            )
            return _never
        self.conditions += 1
        return _equal_to(value)

    def operator(self, name: str, operand: Any, where: str) -> Predicate:
        if name == "$not":
            return _negated(self.condition(operand, where))
        self.conditions += 1
        if name in ("$eq", "$ne"):
            equal = _equal_to(operand)
            return equal if name == "$eq" else _negated(equal)
        if name in COMPARISONS:
            if isinstance(operand, bool) or not isinstance(operand, (int, float, str)) or _not_finite(operand):
                self.error(where, f"{name} takes a number or a string.")
                return _never
            return _compared(COMPARISONS[name], operand)
        if name in ("$in", "$nin"):
            if not isinstance(operand, list):
                self.error(where, f"{name} takes a list of values.")
                return _never
            within = _any([_equal_to(item) for item in operand])
            return within if name == "$in" else _negated(within)
        if name == "$exists":
            if not isinstance(operand, bool):
                self.error(where, "$exists takes true or false.")
                return _never
            return (lambda value: value is not _ABSENT) if operand else (lambda value: value is _ABSENT)
        if name == "$contains":
            return _containing(operand)
        self.error(where, f"Unknown operator {name!r}: one of {', '.join(FIELD_OPERATORS)}.")
        return _never


def _at(path: str, condition: Predicate) -> Predicate:
    steps = tuple((segment, int(segment) if _INDEX.fullmatch(segment) else None) for segment in path.split("."))

    def at_path(envelope: Any) -> bool:
        value = envelope
        for key, index in steps:
            if isinstance(value, dict):
                value = value.get(key, _ABSENT)
                if value is _ABSENT:
                    break
            elif isinstance(value, list) and index is not None and index < len(value):
                value = value[index]
            else:
                value = _ABSENT
                break
        return condition(value)

    return at_path


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    return lambda value: all(part(value) for part in parts)


def _any(parts: list[Predicate]) -> Predicate:
    return lambda value: any(part(value) for part in parts)


def _negated(predicate: Predicate) -> Predicate:
    return lambda value: not predicate(value)


def _never(value: Any) -> bool:
    return False


def _equal_to(operand: Any) -> Predicate:
    number = _number(operand)
    if number is not None:
        return lambda value: _number(value) == number
    if isinstance(operand, str):
        return lambda value: value == operand and isinstance(value, str)
    return lambda value: _equal(value, operand)


def _compared(compare: Callable[[Any, Any], bool], operand: int | float | str) -> Predicate:
    number = _number(operand)
    if number is not None:

        def numerically(value: Any) -> bool:
            figure = _number(value)
            return figure is not None and compare(figure, number)

        return numerically
    return lambda value: isinstance(value, str) and compare(value, operand)


def _containing(operand: Any) -> Predicate:
    element = _equal_to(operand)

    def containing(value: Any) -> bool:
        if isinstance(value, list):
            return any(element(item) for item in value)
        return isinstance(value, str) and isinstance(operand, str) and operand in value

    return containing


def _number(value: Any) -> Decimal | None:
    """A JSON number or a decimal string as a Decimal (floats by their shortest repr, so 0.1 is
    0.1); None for anything else, booleans included."""
    if isinstance(value, str):
        return Decimal(value) if _DECIMAL.fullmatch(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    return None


def _not_finite(value: Any) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _equal(value: Any, operand: Any) -> bool:
    """JSON equality with decimal numbers: lists item by item, objects key by key."""
    number = _number(operand)
    if number is not None:
        return _number(value) == number
    if isinstance(operand, bool) or operand is None:
        return value is operand
    if isinstance(operand, list):
        return (
            isinstance(value, list)
            and len(value) == len(operand)
            and all(_equal(item, other) for item, other in zip(value, operand, strict=True))
        )
    if isinstance(operand, dict):
        return (
            isinstance(value, dict)
            and value.keys() == operand.keys()
            and all(_equal(value[key], operand[key]) for key in operand)
        )
    return isinstance(value, str) and isinstance(operand, str) and value == operand


# --- Limits and schemas ----------------------------------------------------------------------


NUL = "\x00"


def _first_flaw(spec: dict, at: str) -> tuple[str, str] | None:
    """Where the filter first goes deeper than MAX_DEPTH, or holds a NUL character (PostgreSQL's
    jsonb cannot store one), and what is wrong there; walked without recursion (a deep filter
    must not exhaust the stack that checks it)."""
    pending: list[tuple[Any, str, int]] = [(spec, at, 1)]
    while pending:
        node, where, depth = pending.pop()
        if depth > MAX_DEPTH:
            return where, f"The filter is nested deeper than {MAX_DEPTH} levels."
        children: Iterable = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in children:
            if NUL in str(key) or (isinstance(child, str) and NUL in child):
                return f"{where}.{key}", "A filter cannot hold the NUL character (\\u0000)."
            if isinstance(child, (dict, list)):
                pending.append((child, f"{where}.{key}", depth + 1))
    return None


def _has(schema: Any, segments: tuple[str, ...], defs: dict, followed: frozenset) -> bool:
    if not segments:
        return True
    if not isinstance(schema, dict):
        return schema is True
    if ref := schema.get("$ref"):
        name = ref.rsplit("/", 1)[-1]
        if name in followed or name not in defs:  # a circle of references that names nothing new
            return False
        return _has(defs[name], segments, defs, followed | {name})
    for combinator in ("allOf", "oneOf", "anyOf"):
        if any(_has(branch, segments, defs, followed) for branch in schema.get(combinator, ())):
            return True
    head, rest = segments[0], segments[1:]
    if head in schema.get("properties", {}):
        return _has(schema["properties"][head], rest, defs, frozenset())
    if "items" in schema and _INDEX.fullmatch(head):
        return _has(schema["items"], rest, defs, frozenset())
    additional = schema.get("additionalProperties")
    if additional not in (None, False):
        return _has(additional, rest, defs, frozenset())
    shape = {"type", "properties", "items", "enum", "const", "allOf", "oneOf", "anyOf", "additionalProperties"}
    return not shape & schema.keys()  # a schema that says nothing of its shape holds anything


def _unknown_path(path: str, schemas: Mapping[str, dict]) -> str:
    names = sorted(schemas)
    named = ", ".join(names[:MAX_TYPES_NAMED])
    if len(names) > MAX_TYPES_NAMED:
        named += f" and {len(names) - MAX_TYPES_NAMED} more"
    return f"Unknown path {path!r}: none of the subscribed event types ({named or 'none'}) has it."
