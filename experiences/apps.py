from django.apps import AppConfig


class ExperiencesConfig(AppConfig):
    name = "experiences"
    verbose_name = "Experiences"

    def ready(self):
        from segments.demo import demo_seeded
        from segments.domain import domain_events
        from segments.usage import register_segment_usage_check

        from .demo import on_demo_seeded
        from .queries import segment_usage_descriptions
        from .receivers import on_domain_events

        domain_events.connect(on_domain_events, dispatch_uid="experiences.on_domain_events")
        demo_seeded.connect(on_demo_seeded, dispatch_uid="experiences.on_demo_seeded")
        # A segment that a live experience uses cannot be deleted.
        register_segment_usage_check(segment_usage_descriptions)

        from segments.analytics.refresh import register_refresher

        from .analytics import refresh_experiences

        register_refresher(refresh_experiences)

        from segments.customer_sections import register_customer_section

        from .views import runs_section

        register_customer_section("runs", "Experience runs", runs_section, order=20)

        from rewards.experience_names import register_experience_names

        from .queries import experience_names

        register_experience_names(experience_names)

        from .partitions import register as register_partitions

        register_partitions()
