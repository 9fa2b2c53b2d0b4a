"""Post a stream of realistic signed webhooks for the demo store's customers:
``manage.py send_demo_events [--url URL] [--count N] [--rate PER_SECOND] [--store SLUG]``."""

from django.core.management.base import BaseCommand, CommandError

from segments.demo_events import send_demo_events
from segments.models import Store


class Command(BaseCommand):
    help = (
        "Send Shopify orders/create + orders/paid, Recharge charge/paid and subscription events "
        "for existing customers of a store through the real webhook endpoints, signed with the "
        "store's secrets, so segments and experience runs move."
    )

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The running server.")
        parser.add_argument("--count", type=int, default=50, help="Webhooks to send.")
        parser.add_argument(
            "--rate", type=float, default=2.0, help="Webhooks per second (0: no pause)."
        )
        parser.add_argument("--store", default="demo", help="Slug of the store.")
        parser.add_argument(
            "--seed", type=int, default=None, help="Random seed, for a repeatable stream."
        )

    def handle(self, *args, url, count, rate, store, seed, verbosity, **options):
        if count < 1:
            raise CommandError("--count must be 1 or more.")
        if rate < 0:
            raise CommandError("--rate must be 0 or more.")
        shop = Store.objects.filter(slug=store).first()
        if shop is None:
            raise CommandError(f"No store {store!r}: run `python manage.py seed_demo` first.")

        def report(delivery, status):
            if verbosity >= 1:
                self.stdout.write(f"{status} {delivery.topic:<24} {delivery.customer_email}")

        try:
            statuses = send_demo_events(
                shop, url=url, count=count, rate=rate, seed=seed, report=report
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"Cannot reach {url}: {exc}. Is `make run` running?") from None
        summary = ", ".join(f"{n} answered {s}" for s, n in sorted(statuses.items()))
        self.stdout.write(f"Sent {sum(statuses.values())} webhooks to {url}: {summary}.")
        refused = sum(n for s, n in statuses.items() if s >= 400)
        if refused:
            raise CommandError(f"{refused} webhook(s) were refused; see the statuses above.")
