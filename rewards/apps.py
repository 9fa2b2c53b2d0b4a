from django.apps import AppConfig


class RewardsConfig(AppConfig):
    name = "rewards"
    verbose_name = "Rewards"

    def ready(self):
        from segments.domain import domain_events

        from .receivers import on_domain_events

        domain_events.connect(on_domain_events, dispatch_uid="rewards.on_domain_events")
