"""Notification: an email rendered from customer, order and experience variables.

Templates use Django's template language on a standalone engine with no loaders, rendered with
plain dictionaries only, so a merchant's template can read variables and nothing else. The step
writes an ``EmailDelivery`` row in its own transaction; delivery happens after commit, at most
once (see ``experiences.actions.delivery``).
"""

from __future__ import annotations

from django.template import Context, Engine, TemplateSyntaxError
from pydantic import BaseModel, ConfigDict, Field

from ..models import EmailDelivery
from .base import ExecutionContext, NodeType, Outcome, ValidationContext

ENGINE = Engine(dirs=[], app_dirs=False, loaders=[], autoescape=False, libraries={})


class NotificationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, max_length=20_000)
    require_marketing_consent: bool = False


def render(source: str, variables: dict) -> str:
    return ENGINE.from_string(source).render(Context(variables, autoescape=False))


class Notification(NodeType):
    type = "notification"
    label = "Notification"
    config_model = NotificationConfig
    writes = True
    description = (
        "Email the customer. Variables: {{ customer.first_name }}, {{ order.name }}, "
        "{{ order.total }}, {{ experience.name }}, {{ store.name }}."
    )

    def validate(self, config: NotificationConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for name in ("subject", "body"):
            try:
                ENGINE.from_string(getattr(config, name))
            except TemplateSyntaxError as exc:
                errors.setdefault(name, []).append(f"Template error: {exc}")
        return errors

    def execute(self, config: NotificationConfig, ctx: ExecutionContext) -> Outcome:
        customer = ctx.evaluation.customer
        if config.require_marketing_consent and not customer.accepts_marketing:
            return Outcome(result={"skipped": "no marketing consent"})
        variables = ctx.evaluation.template_variables(ctx.experience)
        subject = " ".join(render(config.subject, variables).split())[:255]
        body = render(config.body, variables)
        if ctx.step.pk is None:
            ctx.step.save()  # the outbox row points at its step
        delivery = EmailDelivery.objects.create(
            store_id=ctx.run.store_id,
            step=ctx.step,
            to=customer.email,
            subject=subject,
            body=body,
        )
        return Outcome(result={"email_delivery_id": delivery.pk, "to": customer.email})
