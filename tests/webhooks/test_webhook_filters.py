"""The subscription filter language (webhooks/filters.py) on its own: what matches, money as
decimals, missing paths, the limits, paths checked against JSON Schemas, and properties that
hold for any filter and any envelope."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webhooks import filters

ENVELOPE = {
    "id": "0193a8f0-0000-7000-8000-000000000001",
    "type": "order.created",
    "timestamp": "2026-12-03T10:00:00.123456Z",
    "subject": "order/0193a8f0-0000-7000-8000-0000000000aa",
    "sequence": 1,
    "data": {
        "order": {
            "status": "placed",
            "total": "125.50",
            "currency": "USD",
            "cancel_reason": None,
            "items": [{"pet_id": "rex", "quantity": 2, "unit_price": "62.75"}],
            "tags": ["gift", "express"],
        }
    },
}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, True),
        ({"type": "order.created"}, True),
        ({"type": "order.cancelled"}, False),
        ({"type": {"$eq": "order.created"}, "data.order.status": "placed"}, True),
        ({"type": "order.created", "data.order.status": "approved"}, False),  # side by side: both must hold
        ({"type": {"$ne": "order.created"}}, False),
        ({"data.order.items.0.quantity": 2}, True),
        ({"data.order.items.0.quantity": {"$gte": 3}}, False),
        ({"data.order.items.1.quantity": {"$exists": False}}, True),  # no second item
        ({"data.order.status": {"$in": ["placed", "approved"]}}, True),
        ({"data.order.status": {"$nin": ["placed", "approved"]}}, False),
        ({"data.order.tags": {"$contains": "gift"}}, True),  # list membership
        ({"data.order.tags": {"$contains": "gi"}}, False),  # an element, not a substring of one
        ({"subject": {"$contains": "order/"}}, True),  # substring
        ({"data.order.total": {"$contains": 1}}, False),
        ({"$or": [{"type": "payment.failed"}, {"data.order.total": {"$gt": 100}}]}, True),
        ({"$or": [{"type": "payment.failed"}, {"data.order.total": {"$gt": 200}}]}, False),
        ({"$and": [{"type": "order.created"}, {"data.order.currency": "USD"}]}, True),
        ({"$not": {"type": "order.created"}}, False),
        ({"data.order.status": {"$not": {"$in": ["cancelled"]}}}, True),
        ({"data.order.status": {"$not": "placed"}}, False),
        ({"timestamp": {"$gte": "2026-12-03T00:00:00Z", "$lt": "2026-12-04"}}, True),  # RFC 3339 orders as text
        ({"data.order.cancel_reason": None}, True),  # null is a value
        ({"data.order.cancel_reason": {"$exists": True}}, True),
        ({"data.order.items": {"$contains": {"pet_id": "rex", "quantity": 2, "unit_price": "62.75"}}}, True),
        ({"sequence": True}, False),  # true is not 1
        ({"sequence": "1"}, True),  # a decimal string is a number
    ],
)
def test_what_matches(spec, expected):
    assert filters.validate(spec) == {}
    assert filters.matches(spec, ENVELOPE) is expected


@pytest.mark.parametrize(
    "spec",
    [
        {"data.order.total": "125.5"},
        {"data.order.total": 125.5},
        {"data.order.total": {"$in": [99, "125.500"]}},
        {"data.order.total": {"$gt": 125, "$lt": "125.51"}},
        {"data.order.total": {"$gte": "125.50", "$lte": 125.50}},
        {"data.order.total": {"$gt": "99.99"}},  # as text "125.50" < "99.99"
    ],
)
def test_money_strings_compare_as_numbers(spec):
    assert filters.matches(spec, ENVELOPE)


def test_money_is_compared_as_decimals_not_floats():
    # 0.1 as a float is 0.1000000000000000055…: compared exactly, "0.1" would not be >= it
    assert filters.matches({"data.amount": {"$gte": 0.1}}, {"data": {"amount": "0.1"}})
    # beyond a float's 16 digits: 10000000000000000.01 as a float is 1e16
    assert filters.matches({"data.amount": {"$gt": "10000000000000000"}}, {"data": {"amount": "10000000000000000.01"}})
    assert not filters.matches({"data.amount": 0.3}, {"data": {"amount": 0.1 + 0.2}})  # 0.30000000000000004


@pytest.mark.parametrize(
    "spec",
    [
        {"data.order.discount": {"$eq": "1"}},
        {"data.order.discount": {"$gt": 0}},
        {"data.order.discount": {"$in": ["1"]}},
        {"data.order.discount": {"$contains": "x"}},
        {"data.order.discount": None},
        {"data.order.total.cents": 1},  # below a string
        {"data.order.items.x": 1},  # a name into a list
        {"data.order.items.01.quantity": 2},  # not an index
        {"data.order.items.5.quantity": 2},  # past the end
    ],
)
def test_a_missing_path_matches_no_comparison(spec):
    assert not filters.matches(spec, ENVELOPE)


@pytest.mark.parametrize(
    "spec",
    [
        {"data.order.discount": {"$ne": 1}},
        {"data.order.discount": {"$nin": [1]}},
        {"data.order.discount": {"$exists": False}},
    ],
)
def test_a_missing_path_matches_the_negations(spec):
    assert filters.matches(spec, ENVELOPE)


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"$where": "1"}, "filter.$where"),
        ({"type": {"$regex": "order"}}, "filter.type.$regex"),
        ({"$or": [{"type": "a"}, {"type": {"$eqq": 1}}]}, "filter.$or.1.type.$eqq"),
        ({"data.order": {"status": "placed"}}, "filter.data.order"),  # nested objects: use a dotted path
        ({"type": {"$in": "order.created"}}, "filter.type.$in"),
        ({"type": {"$exists": 1}}, "filter.type.$exists"),
        ({"sequence": {"$gt": None}}, "filter.sequence.$gt"),
        ({"$or": []}, "filter.$or"),
        ({"$and": {"type": "a"}}, "filter.$and"),
        ({"$not": [{"type": "a"}]}, "filter.$not"),
        ({"data..order": 1}, "filter.data..order"),
        ({"": 1}, "filter."),
    ],
)
def test_a_malformed_filter_is_refused_where_it_is_wrong(spec, where):
    errors = filters.validate(spec)
    assert list(errors) == [where]
    with pytest.raises(filters.FilterError):
        filters.compile(spec)


def test_a_filter_is_an_object():
    assert filters.validate(["type"]) == {"filter": ["A filter is a JSON object (or null for none)."]}
    assert filters.validate(None) == {}
    assert filters.compile(None) is None
    assert filters.compile({}) is None


def test_too_deep_too_many_conditions_too_large():
    deep: dict = {"type": "x"}
    for _ in range(filters.MAX_DEPTH):
        deep = {"$not": deep}
    (where,) = filters.validate(deep)
    assert where == "filter" + ".$not" * filters.MAX_DEPTH
    assert "deeper than" in filters.validate(deep)[where][0]

    just_deep_enough: dict = {"type": "x"}
    for _ in range(filters.MAX_DEPTH - 1):
        just_deep_enough = {"$not": just_deep_enough}
    assert filters.validate(just_deep_enough) == {}

    many = {f"data.field{number}": number for number in range(filters.MAX_CONDITIONS + 1)}
    assert "conditions" in filters.validate(many)["filter"][0]
    assert filters.validate(dict(list(many.items())[: filters.MAX_CONDITIONS])) == {}

    large = {"type": {"$in": ["x" * 100] * 45}}
    assert "larger than" in filters.validate(large)["filter"][0]


def test_a_thousand_levels_deep_is_refused_not_a_recursion_error():
    deep: dict = {}
    for _ in range(5000):
        deep = {"$not": deep}
    assert list(filters.validate(deep)) == ["filter" + ".$not" * filters.MAX_DEPTH]


# --- Paths against JSON Schemas ------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "data": {
            "type": "object",
            "properties": {
                "order": {"$ref": "#/$defs/Order"},
                "extra": {},  # says nothing of its shape
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
    "$defs": {
        "Order": {
            "type": "object",
            "properties": {
                "total": {"type": "string", "format": "decimal"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "cancel_reason": {"oneOf": [{"$ref": "#/$defs/Reason"}, {"type": "null"}]},
                "status": {"allOf": [{"$ref": "#/$defs/Status"}], "readOnly": True},
                "parent": {"$ref": "#/$defs/Order"},  # a circle
            },
        },
        "Item": {"type": "object", "properties": {"quantity": {"type": "integer"}}},
        "Reason": {"enum": ["payment_failed"], "type": "string"},
        "Status": {"enum": ["placed"], "type": "string"},
    },
}


@pytest.mark.parametrize(
    ("path", "known"),
    [
        ("type", True),
        ("data.order.total", True),
        ("data.order.items", True),
        ("data.order.items.0.quantity", True),
        ("data.order.items.12.quantity", True),
        ("data.order.cancel_reason", True),
        ("data.order.status", True),
        ("data.order.parent.parent.total", True),
        ("data.extra.anything.below", True),
        ("data.labels.colour", True),
        ("data.order.totl", False),
        ("data.order.items.quantity", False),
        ("data.order.items.0.price", False),
        ("data.order.total.cents", False),
        ("data.order.cancel_reason.code", False),
        ("data.labels.colour.shade", False),
        ("data.order.parent.parent.nope", False),
        ("subject", False),
    ],
)
def test_a_path_is_known_through_refs_defs_and_combinators(path, known):
    assert filters.has_path(SCHEMA, path) is known


def test_an_unknown_path_is_named_with_the_types_that_lack_it():
    errors = filters.validate(
        {"$or": [{"data.order.total": {"$gt": 5}}, {"data.order.totl": 1}]},
        schemas={"order.created": SCHEMA, "order.cancelled": SCHEMA},
    )
    assert errors == {
        "filter.$or.1.data.order.totl": [
            "Unknown path 'data.order.totl': none of the subscribed event types (order.cancelled, order.created) "
            "has it."
        ]
    }


def test_a_path_known_to_one_subscribed_type_is_enough():
    other = {"type": "object", "properties": {"data": {"type": "object", "properties": {"pet": {}}}}}
    assert filters.validate({"data.pet.stock": 1}, schemas={"inventory.updated": other, "order.created": SCHEMA}) == {}


# --- Properties for any filter and any envelope ----------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=5)
    | st.sampled_from(["125.50", "-3", "0.1", "order.created"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=12,
)
paths = st.sampled_from(
    ["type", "sequence", "data.order.total", "data.order.items.0.quantity", "data.order.tags", "nope"]
)
operators = st.sampled_from([*filters.FIELD_OPERATORS, "$bogus"])
conditions = json_values | st.dictionaries(operators, json_values, min_size=1, max_size=2)
filter_specs = st.recursive(
    st.dictionaries(paths, conditions, max_size=3),
    lambda children: st.dictionaries(
        st.sampled_from(["$and", "$or", "$not"]),
        st.lists(children, min_size=1, max_size=2) | children,
        min_size=1,
        max_size=2,
    ),
    max_leaves=6,
)
envelopes = st.fixed_dictionaries({}, optional={"type": json_values, "sequence": json_values, "data": json_values})


@settings(max_examples=300, deadline=None)
@given(spec=json_values | filter_specs, envelope=envelopes)
def test_any_json_validates_or_is_refused_and_a_valid_filter_never_raises(spec, envelope):
    assert isinstance(filters.validate(spec, schemas={"order.created": SCHEMA}), dict)
    if filters.validate(spec):
        with pytest.raises(filters.FilterError):
            filters.compile(spec)
        return
    assert filters.matches(spec, envelope) in (True, False)
    assert filters.matches(spec, ENVELOPE) in (True, False)


@settings(max_examples=200, deadline=None)
@given(spec=filter_specs, envelope=envelopes)
def test_not_is_the_complement(spec, envelope):
    if not spec or filters.validate({"$not": spec}):
        return
    assert filters.matches({"$not": spec}, envelope) is not filters.matches(spec, envelope)


decimals = st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(amount=decimals, bound=decimals, trailing_zeros=st.integers(0, 3))
def test_decimal_strings_compare_like_decimals(amount, bound, trailing_zeros):
    envelope = {"data": {"amount": f"{amount:f}" + ("0" * trailing_zeros if "." in f"{amount:f}" else "")}}
    for name, holds in [
        ("$gt", amount > bound),
        ("$gte", amount >= bound),
        ("$lt", amount < bound),
        ("$lte", amount <= bound),
        ("$eq", amount == bound),
        ("$ne", amount != bound),
    ]:
        assert filters.matches({"data.amount": {name: f"{bound:f}"}}, envelope) is holds, name
    assert filters.matches({"data.amount": {"$eq": float(amount)}}, envelope) is (
        Decimal(repr(float(amount))) == amount
    )
