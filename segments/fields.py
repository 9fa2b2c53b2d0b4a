"""The catalog of customer fields that segment rules and experience conditions test.

One list, used by the segment rule language (compiled to SQL over many customers) and by the
experience engine (evaluated for one customer), so both speak about the same fields with the same
types. ``column`` names the Customer column where the field is stored on the customer row;
fields without one are computed from related rows (tags, products, subscriptions, segments).
"""

from dataclasses import dataclass
from enum import StrEnum


class FieldType(StrEnum):
    STRING = "string"
    NUMBER = "number"  # whole numbers
    MONEY = "money"  # Decimal in the store's currency
    DATE = "date"  # whole days in the store's time zone; relative forms allowed (-30d, today)
    BOOLEAN = "boolean"
    LIST = "list"  # CONTAINS / NOT CONTAINS
    SEGMENT = "segment"  # membership of another segment (by id or name)


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    label: str
    column: str | None = None


CUSTOMER_FIELDS: dict[str, Field] = {
    f.name: f
    for f in [
        Field("email", FieldType.STRING, "Email", "email"),
        Field("email_domain", FieldType.STRING, "Email domain"),
        Field("tags", FieldType.LIST, "Tags", "tags"),
        Field("orders_count", FieldType.NUMBER, "Number of orders", "orders_count"),
        Field(
            "subscription_orders_count",
            FieldType.NUMBER,
            "Number of subscription orders",
            "subscription_orders_count",
        ),
        Field("total_spent", FieldType.MONEY, "Total spent", "total_spent"),
        Field("subscription_aov", FieldType.MONEY, "Subscription AOV", "subscription_aov"),
        Field("streak", FieldType.NUMBER, "Streak of consecutive charges", "streak"),
        Field(
            "active_subscriptions_count",
            FieldType.NUMBER,
            "Active subscriptions",
            "active_subscriptions_count",
        ),
        Field("first_order_date", FieldType.DATE, "First order date", "first_order_at"),
        Field("last_order_date", FieldType.DATE, "Last order date", "last_order_at"),
        Field("created_date", FieldType.DATE, "Customer created date", "created_at"),
        Field("accepts_marketing", FieldType.BOOLEAN, "Accepts marketing", "accepts_marketing"),
        Field("products_purchased", FieldType.LIST, "Products purchased"),
        Field("subscription_status", FieldType.LIST, "Subscription statuses"),
        Field("next_charge_date", FieldType.DATE, "Next charge date"),
        Field("segment", FieldType.SEGMENT, "Segment membership"),
    ]
}
