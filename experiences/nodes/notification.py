"""Notification: an email rendered from customer, order and experience variables.

Templates are Jinja2 in a locked-down sandbox (``experiences.templating``): only the documented
variables reach them, and a template that does not render against sample values is a validation
error on the node, refused at publish, not a failed send. The step
writes an ``EmailDelivery`` row in its own transaction; delivery happens after commit, at most
once (see ``experiences.actions.delivery``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..effects import OutboxEmail
from ..templating import render, template_problems
from .base import ExecutionContext, NodeType, Outcome, ValidationContext


class NotificationConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=255)
    body: str = Field(min_length=1, max_length=20_000)
    require_marketing_consent: bool = False


class Notification(NodeType):
    type = "notification"
    label = "Notification"
    config_model = NotificationConfig
    writes = True
    description = (
        "Email the customer (Jinja2 syntax). Variables: customer.first_name, last_name, name, "
        "email, orders_count, subscription_orders_count, total_spent; order.name, total, "
        "currency; experience.name; store.name. Example: Hi {{ customer.first_name }}!"
    )

    def validate(self, config: NotificationConfig, ctx: ValidationContext) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        for name in ("subject", "body"):
            for problem in template_problems(getattr(config, name)):
                errors.setdefault(name, []).append(f"Template error: {problem}")
        return errors

    def execute(self, config: NotificationConfig, ctx: ExecutionContext) -> Outcome:
        customer = ctx.evaluation.customer
        if config.require_marketing_consent and not customer.accepts_marketing:
            return Outcome(result={"skipped": "no marketing consent"})
        variables = ctx.evaluation.template_variables(ctx.experience)
        subject = " ".join(render(config.subject, variables).split())[:255]
        body = render(config.body, variables)
        email = ctx.effect(OutboxEmail, to=customer.email, subject=subject, body=body)
        return Outcome(effects=[email])
