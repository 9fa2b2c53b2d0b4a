from django.apps import AppConfig


class ExperiencesConfig(AppConfig):
    name = "experiences"
    verbose_name = "Experiences"

    def ready(self):
        from segments.domain import domain_event

        from .receivers import on_domain_event

        domain_event.connect(on_domain_event, dispatch_uid="experiences.on_domain_event")
