"""Webhook secrets are encrypted at rest with a key from the environment (FIELD_ENCRYPTION_KEY,
else derived from SECRET_KEY), and webhooks still verify against them."""

import pytest
from django.db import connection
from django.test import override_settings

from segments import secrets
from segments.ingest.signatures import sign_shopify
from segments.models import Store


def _stored(store, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM segments_store WHERE id = %s", [store.pk])
        return cursor.fetchone()[0]


def test_secrets_are_stored_encrypted_and_read_back_in_plaintext(store):
    stored = _stored(store, "shopify_webhook_secret")
    assert stored.startswith("fernet:") and store.shopify_webhook_secret not in stored
    assert Store.objects.get(pk=store.pk).shopify_webhook_secret == store.shopify_webhook_secret


def test_a_webhook_verifies_against_the_encrypted_secret(client, store):
    body = b'{"id": 1, "email": "x@example.com"}'
    response = client.post(
        "/webhooks/shopify/",
        body,
        content_type="application/json",
        HTTP_X_SHOPIFY_SHOP_DOMAIN=store.shopify_domain,
        HTTP_X_SHOPIFY_HMAC_SHA256=sign_shopify(store.shopify_webhook_secret, body),
        HTTP_X_SHOPIFY_TOPIC="customers/create",
        HTTP_X_SHOPIFY_EVENT_ID="evt-1",
    )
    assert response.status_code == 202, response.content


def test_a_dedicated_key_encrypts_and_rotation_keeps_old_values_readable():
    with override_settings(FIELD_ENCRYPTION_KEY="old-key"):
        secrets._cipher.cache_clear()
        old = secrets.encrypt("s3cret")
    with override_settings(FIELD_ENCRYPTION_KEY="new-key,old-key"):
        assert secrets.decrypt(old) == "s3cret"
    with override_settings(FIELD_ENCRYPTION_KEY="another-key"):
        with pytest.raises(secrets.InvalidToken):
            secrets.decrypt(old)
    secrets._cipher.cache_clear()


def test_without_a_dedicated_key_the_key_derives_from_secret_key():
    with override_settings(FIELD_ENCRYPTION_KEY="", SECRET_KEY="one" * 20):
        token = secrets.encrypt("s3cret")
    with override_settings(FIELD_ENCRYPTION_KEY="", SECRET_KEY="two" * 20):
        with pytest.raises(secrets.InvalidToken):
            secrets.decrypt(token)
    with override_settings(FIELD_ENCRYPTION_KEY="", SECRET_KEY="one" * 20):
        assert secrets.decrypt(token) == "s3cret"


def test_a_key_that_no_longer_matches_breaks_only_what_reads_the_secret(client, store):
    # given a store whose secrets were encrypted under another key (SECRET_KEY rotated)
    from segments.models import Role
    from tests.fixtures.factories import make_user

    owner = make_user(store, Role.OWNER)
    with override_settings(FIELD_ENCRYPTION_KEY="a-key-since-replaced"):
        secrets._cipher.cache_clear()
        Store.objects.filter(pk=store.pk).update(shopify_webhook_secret=secrets.encrypt("s3cret"))
    secrets._cipher.cache_clear()
    # then the merchant's pages and the API still answer (loading a store does not decrypt)
    client.force_login(owner)
    assert client.get("/app/segments/").status_code == 200
    assert client.get(f"/api/v1/stores/{store.slug}/segments/").status_code == 200
    loaded = Store.objects.get(pk=store.pk)
    loaded.name = "Renamed"
    loaded.save()
    # and saving the store keeps the stored secret as it was, while reading it says why not
    assert _stored(store, "shopify_webhook_secret") == _stored(loaded, "shopify_webhook_secret")
    with pytest.raises(secrets.InvalidToken):
        Store.objects.get(pk=store.pk).shopify_webhook_secret  # noqa: B018


def test_a_webhook_for_a_secret_under_a_lost_key_is_a_503_not_a_500(client, store):
    # given a store whose secret was encrypted under a key this server no longer has
    with override_settings(FIELD_ENCRYPTION_KEY="a-key-since-replaced"):
        secrets._cipher.cache_clear()
        Store.objects.filter(pk=store.pk).update(shopify_webhook_secret=secrets.encrypt("old"))
    secrets._cipher.cache_clear()
    body = b'{"id": 1, "email": "x@example.com"}'
    # when Shopify delivers a webhook signed with that secret
    response = client.post(
        "/webhooks/shopify/",
        body,
        content_type="application/json",
        HTTP_X_SHOPIFY_SHOP_DOMAIN=store.shopify_domain,
        HTTP_X_SHOPIFY_HMAC_SHA256=sign_shopify("old", body),
        HTTP_X_SHOPIFY_TOPIC="customers/create",
        HTTP_X_SHOPIFY_EVENT_ID="evt-lost-key",
    )
    # then it is told to deliver again later, naming the secret, and nothing was stored
    assert response.status_code == 503, response.content
    assert response.json()["field"] == "secret" and response["Retry-After"] == "60"
    from segments.models import InboundEvent

    assert not InboundEvent.objects.filter(store=store).exists()
