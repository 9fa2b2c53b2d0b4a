"""Engine log lines carry the store, event and run they are about, as JSON or as text."""

import io
import json
import logging

from django.test import Client

from config.logs import ContextFilter, JsonFormatter, TextFormatter, bind, log_context
from segments.ingest.actions import process_batch
from segments.models import InboundEvent
from tests.fixtures.factories import make_customer
from tests.fixtures.payloads import load, post_shopify


def _capture(logger_name: str, formatter: logging.Formatter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(formatter)
    logging.getLogger(logger_name).addHandler(handler)
    return stream, handler


def test_a_failing_event_logs_its_store_and_event_id_as_json(store):
    # given a customer known by one Shopify id, and an order naming them with another
    make_customer(store, email="clash@example.com", shopify_id="111")
    payload = load("shopify_orders_create")
    payload["email"] = payload["customer"]["email"] = "clash@example.com"
    payload["customer"]["id"] = 222
    assert post_shopify(Client(), store, "orders/create", payload).status_code == 202
    event = InboundEvent.objects.get()
    stream, handler = _capture("segments.ingest.actions", JsonFormatter())
    try:
        # when a worker processes it
        process_batch()
    finally:
        logging.getLogger("segments.ingest.actions").removeHandler(handler)
    # then the failure's line is one JSON object naming the store and the event
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    failure = next(line for line in lines if "attempt 1 failed" in line["message"])
    assert failure["store_id"] == store.pk
    assert failure["event_id"] == f"inbound:{event.pk}"
    assert failure["run_id"] is None
    assert failure["level"] == "WARNING" and failure["logger"] == "segments.ingest.actions"
    # and the batch's own line, about no one event, names none
    batch = next(line for line in lines if line["message"].startswith("Batch of 1"))
    assert batch["store_id"] is None and batch["event_id"] is None


def test_ids_nest_and_show_in_text_lines():
    stream, handler = _capture("tests.logs", TextFormatter("%(levelname)s %(name)s | %(message)s"))
    logger = logging.getLogger("tests.logs")
    logger.setLevel(logging.INFO)
    try:
        with log_context(event_id="inbound:7"):
            with log_context(run_id=3):
                bind(store_id=1)
                logger.info("walking")
            logger.info("back in the event")
        logger.info("no ids")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "INFO tests.logs [store=1 event=inbound:7 run=3] | walking",
        "INFO tests.logs [event=inbound:7] | back in the event",
        "INFO tests.logs | no ids",
    ]
