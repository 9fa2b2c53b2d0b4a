from django.apps import AppConfig

# Events after which a customer's figures may have changed: their segments are re-evaluated.
EVALUATE_ON = {
    "order_processed",
    "order_cancelled",
    "subscription_created",
    "subscription_updated",
    "subscription_cancelled",
    "subscription_activated",
    "upcoming_order_scheduled",
    "charge_failed",
    "customer_updated",
}


def evaluate_segments_after_event(sender, event, **kwargs) -> None:
    """Queue the incremental evaluation of the event's customer (receivers only enqueue)."""
    if event.name not in EVALUATE_ON or event.customer_id is None:
        return
    from .actions import enqueue

    enqueue("segments.evaluate_customer", event.store_id, event.customer_id, event.as_dict())


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Stores, customers and segments"

    def ready(self) -> None:
        from .domain import domain_event

        domain_event.connect(evaluate_segments_after_event, dispatch_uid="segments-evaluate")
