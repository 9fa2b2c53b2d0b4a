"""Any rule the checks accept compiles to SQL that PostgreSQL runs: fuzzed, on a real database."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.fields import CUSTOMER_FIELDS
from segments.models import Customer, Segment
from segments.queries import membership_explanations
from segments.rules import RuleError, compile_for_store
from tests.fixtures.factories import make_customer

from .segment_helpers import dynamic_segment

_values = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.decimals(min_value=-(10**6), max_value=10**6, places=2).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.tuples(st.sampled_from("+-"), st.integers(0, 99999), st.sampled_from("dwmy")).map(
        lambda t: f"{t[0]}{t[1]}{t[2]}"
    ),
    st.sampled_from(["today", "true", "false", "'active'", "'vip'", "'Top'", "'%_\\\\'"]),
    st.text(
        alphabet=st.characters(blacklist_characters="\x00'\\\n", blacklist_categories=("Cs",)),
        max_size=20,
    ).map(lambda t: f"'{t}'"),
)
_ops = st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "CONTAINS", "NOT CONTAINS"])
_condition = st.one_of(
    st.tuples(st.sampled_from(sorted(CUSTOMER_FIELDS)), _ops, _values).map(" ".join),
    st.tuples(st.sampled_from(sorted(CUSTOMER_FIELDS)), _values, _values).map(
        lambda t: f"{t[0]} BETWEEN {t[1]} AND {t[2]}"
    ),
    st.tuples(
        st.sampled_from(sorted(CUSTOMER_FIELDS)), st.sampled_from(["IS NULL", "IS NOT NULL"])
    ).map(" ".join),
)
_rule = st.recursive(
    _condition,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["AND", "OR"]), inner).map(lambda t: f"({' '.join(t)})"),
        inner.map(lambda r: f"NOT {r}"),
    ),
    max_leaves=4,
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rule=_rule)
def test_every_accepted_rule_runs_on_postgresql(store, rule):
    Segment.objects.get_or_create(store=store, name="Top")
    try:
        sql, params = compile_for_store(rule, store, alias=Customer._meta.db_table)
    except RuleError as exc:
        assert all(p.line >= 1 and p.column >= 1 for p in exc.problems)
        return
    from django.db.models import BooleanField
    from django.db.models.expressions import RawSQL

    Customer.objects.filter(store=store).filter(
        RawSQL(sql, params, output_field=BooleanField())
    ).count()


def test_why_a_customer_is_in_each_segment_is_one_query(store, django_assert_num_queries):
    customer = make_customer(store, orders_count=5)
    dynamic_segment(store, "orders_count >= 3", name="Loyal")
    dynamic_segment(store, "orders_count >= 1", name="Buyers")
    with django_assert_num_queries(1):
        rows = list(membership_explanations(store, customer))
    assert [r.segment.name for r in rows] == ["Buyers", "Loyal"]
    assert all(
        r.entered_at is not None and r.entry_reference.startswith("calculation:") for r in rows
    )
