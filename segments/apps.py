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

EVALUATE_CHUNK = 100  # customers per evaluation task


def evaluate_segments_after_events(sender, events, **kwargs) -> None:
    """Queue the incremental evaluation of the customers the events are about.

    One query per batch finds which of the batch's stores have dynamic segments; each such store
    gets one task for its customers (a customer named twice is evaluated once, after the last
    event, which is the state the batch left). Each task is recorded in the task journal before
    it is sent, so neither a broker outage nor a broker that forgets its queues loses it.
    """
    last_per_customer = {
        (event.store_id, event.customer_id): event
        for event in events
        if event.name in EVALUATE_ON and event.customer_id is not None
    }
    if not last_per_customer:
        return
    from .models import Segment
    from .task_journal import send
    from .tasks import evaluate_customers

    stores = {store_id for store_id, _ in last_per_customer}
    dynamic = set(
        Segment.objects.filter(store_id__in=stores, kind=Segment.Kind.DYNAMIC)
        .values_list("store_id", flat=True)
        .distinct()
    )
    for store_id in sorted(dynamic):
        causes = [e.as_dict() for (sid, _), e in last_per_customer.items() if sid == store_id]
        for start in range(0, len(causes), EVALUATE_CHUNK):
            send(evaluate_customers, store_id, causes[start : start + EVALUATE_CHUNK])


class SegmentsConfig(AppConfig):
    name = "segments"
    verbose_name = "Stores, customers and segments"

    def ready(self) -> None:
        from celery.signals import task_postrun

        from .task_journal import forget_finished

        task_postrun.connect(forget_finished, dispatch_uid="segments-task-journal")
        domain.domain_events.connect(
            evaluate_segments_after_events, dispatch_uid="segments-evaluate"
        )
