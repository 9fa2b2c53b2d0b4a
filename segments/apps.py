from django.apps import AppConfig

from . import domain

# Events after which a customer's figures may have changed: their segments are re-evaluated.
EVALUATE_ON = frozenset(
    {
        domain.ORDER_PROCESSED,
        domain.ORDER_CANCELLED,
        domain.SUBSCRIPTION_CREATED,
        domain.SUBSCRIPTION_UPDATED,
        domain.SUBSCRIPTION_CANCELLED,
        domain.SUBSCRIPTION_ACTIVATED,
        domain.UPCOMING_ORDER_SCHEDULED,
        domain.CHARGE_FAILED,
        domain.CUSTOMER_UPDATED,
    }
)


def evaluate_segments_after_event(sender, event, **kwargs) -> None:
    """Queue the incremental evaluation of the event's customer (receivers only enqueue).

    A broker outage is logged and swallowed: the periodic full recompute is the safety net.
    """
    if event.name not in EVALUATE_ON or event.customer_id is None:
        return
    from .actions import enqueue

    enqueue("segments.evaluate_customer", event.store_id, event.customer_id, event.as_dict())


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Stores, customers and segments"

    def ready(self) -> None:
        domain.domain_event.connect(evaluate_segments_after_event, dispatch_uid="segments-evaluate")
