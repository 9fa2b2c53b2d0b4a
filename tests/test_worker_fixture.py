"""The real-worker fixture itself: a worker consumes from the test broker and sees the test DB."""

from segments.models import Store
from tests.fixtures.worker import wait_until


def test_real_worker_consumes_a_task(celery_worker_process):
    from segments.tasks import ping

    worker = celery_worker_process()
    Store.objects.create(name="Seen by worker", slug="seen")
    ping.delay("hello-from-test")
    wait_until(lambda: "segments.ping" in worker.output() and "succeeded" in worker.output())
