from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self):
        from segments.domain import domain_events

        from .receivers import on_domain_events

        domain_events.connect(on_domain_events, dispatch_uid="rewards.on_domain_events")
        # Deleting entries (a customer's cascade) makes the store's liability checkpoint stale.
        from django.db.models.signals import post_delete

        from .models import CreditEntry
        from .receivers import on_entry_deleted

        post_delete.connect(on_entry_deleted, sender=CreditEntry, dispatch_uid="rewards.entry")

        from segments.customer_sections import register_customer_section

        from .app_views import customer_section

        register_customer_section("rewards", "Rewards", customer_section, order=30)
