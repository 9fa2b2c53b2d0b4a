"""Seed a demo store: ``manage.py seed_demo [--customers N] [--store SLUG] [--name NAME]``."""

import time

from django.core.management.base import BaseCommand, CommandError

from segments.demo import DEMO_PASSWORD, seed_demo


class Command(BaseCommand):
    help = (
        "Create the demo store with merchant users, customers, subscriptions, orders, upcoming "
        "orders and two static segments. Idempotent: running it again adds only what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=1000, help="Customers wanted.")
        parser.add_argument("--store", default="demo", help="Slug of the store to seed.")
        parser.add_argument("--name", default=None, help="Name of the store if it is created.")
        parser.add_argument(
            "--show-secrets",
            action="store_true",
            help="Print the store's webhook secrets (they are never printed otherwise).",
        )

    def handle(
        self, *args, customers: int, store: str, name: str | None, show_secrets=False, **options
    ):
        if customers < 0:
            raise CommandError("--customers must be 0 or more.")
        started = time.perf_counter()
        report = seed_demo(customers=customers, slug=store, name=name)
        elapsed = time.perf_counter() - started
        s = report.store
        self.stdout.write(
            f"Store {s.name!r} (slug {s.slug}, {s.shopify_domain}): "
            f"{report.created_customers} customers added, {report.total_customers} in all "
            f"({elapsed:.1f}s)."
        )
        if show_secrets:
            self.stdout.write(f"  Shopify webhook secret:  {s.shopify_webhook_secret}")
            self.stdout.write(f"  Recharge webhook secret: {s.recharge_webhook_secret}")
        else:
            self.stdout.write("  Webhook secrets: stored encrypted (--show-secrets prints them).")
        for note in report.notes:
            self.stdout.write(f"  {note}")
        self.stdout.write(
            f"  Users (password {DEMO_PASSWORD!r}): staff (Django admin), "
            "owner, editor, viewer (merchant roles)."
        )
