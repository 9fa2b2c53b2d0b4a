"""Never a 500 from a page: every page of the merchant app (discovered from the URL map) and the
offer page answer hostile input with a 4xx or a page that says what is wrong.

For each page, an owner (so roles never answer first) sends query strings and form posts built
from the page's own forms: every field of every form, filled with what a sender can put in a
request (NUL, bytes that are not UTF-8, lone surrogates as escapes, huge and non-finite numbers,
impossible dates, repeated keys, very long text, binary uploads). Hypothesis adds random text.
A page that answers 5xx fails, naming the page, the field and the value.
"""

import re
from urllib.parse import quote_from_bytes, urljoin

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segments.models import Role
from tests.app.test_app_isolation import PAGES, _arguments, _url
from tests.fixtures import factories as f

HOSTILE_BYTES = [
    b"\x00",
    b"a\x00b",
    b"\xed\xa0\x80",  # a lone surrogate encoded as if it were UTF-8
    b"\xff\xfe\xfd",
    b"\\ud800",
    b"9" * 400,
    b"-9223372036854775809",
    b"1e309",
    b"NaN",
    b"-1",
    b"0",
    b"2026-13-45",
    b"9999-12-31T99:99",
    b"<script>alert(1)</script>",
    b"' OR 1=1 --",
    b"x" * 20000,
    b"",
    b"{}",
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]",
]
UPLOADS = [
    b"",
    b"\x00\x01\x02\xff",
    b"email\n\xed\xa0\x80@example.com\n",
    b"email," * 5000 + b"\n",
    b"customer_id\n99999999999999999999999\n-1\nabc\n",
    b'"unterminated\n',
]
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.S | re.I)
FIELD = re.compile(r"<(?:input|select|textarea)\b([^>]*)>", re.I)
ATTR = re.compile(r'(\w[\w-]*)="([^"]*)"')


def _forms(html: str, page_url: str) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, action, text field names, file field names) of each form on the page."""
    found = []
    for attributes, body in FORM.findall(html):
        attrs = dict(ATTR.findall(attributes))
        method = attrs.get("method", "get").lower()
        action = urljoin(page_url, attrs.get("action") or page_url)
        names, files = [], []
        for field in FIELD.findall(body):
            field_attrs = dict(ATTR.findall(field))
            name = field_attrs.get("name")
            if not name or name == "csrfmiddlewaretoken":
                continue
            (files if field_attrs.get("type") == "file" else names).append(name)
        found.append((method, action, names, files))
    return found


def _encoded(fields: list[str], value: bytes) -> bytes:
    pairs = [quote_from_bytes(n.encode()) + "=" + quote_from_bytes(value) for n in fields]
    pairs.append("unknown_field=" + quote_from_bytes(value))
    if fields:  # the first field twice: a repeated key
        pairs.append(quote_from_bytes(fields[0].encode()) + "=" + quote_from_bytes(value))
    return "&".join(pairs).encode()


def _assert_answered(response, what):
    assert response.status_code < 500, f"{what}: {response.status_code}"


@pytest.fixture
def owner_client(client, store):
    owner = f.make_user(store, Role.OWNER)
    client.force_login(owner)
    return client


def _page_url(route, args, store):
    return _url(route, _arguments(args, store))


def _hammer(client, url: str, value: bytes, uploads=False):
    """Send ``value`` to the page as a query string and to each of its forms, fields filled."""
    _assert_answered(client.get(url + "?q=" + quote_from_bytes(value)), f"GET {url} q={value!r}")
    page = client.get(url)
    forms = _forms(page.content.decode(errors="replace"), url) if page.status_code == 200 else []
    if not forms:  # a POST-only page (or one without forms): post the usual names
        forms = [("post", url, ["name", "email", "emails", "customer_ids", "rule", "kind"], [])]
    for method, action, names, files in forms:
        body = _encoded(names, value)
        if method == "get":
            response = client.get(action + "?" + body.decode())
        else:
            response = client.generic(
                "POST", action, body, content_type="application/x-www-form-urlencoded"
            )
        _assert_answered(response, f"{method.upper()} {action} fields={names} value={value!r}")
        if uploads and files and method == "post":
            for content in UPLOADS:
                data = {name: SimpleUploadedFile("x.csv", content, "text/csv") for name in files}
                data.update({name: value.decode(errors="replace") for name in names})
                response = client.post(action, data)
                _assert_answered(response, f"upload to {action} content={content[:40]!r}")


SIGNED_IN_PAGES = [p for p in PAGES if p.values[1] not in ("app-logout",)]


@pytest.mark.parametrize("route, name, args", SIGNED_IN_PAGES)
def test_every_app_page_answers_hostile_input_without_a_server_error(
    owner_client, store, route, name, args
):
    # given an owner on a page of their store (with real objects behind its ids)
    url = _page_url(route, args, store)
    # when every hostile value goes into the query string and into every field of every form
    # then no answer is a server error
    for value in HOSTILE_BYTES:
        _hammer(owner_client, url, value, uploads=value is HOSTILE_BYTES[0])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.text(max_size=60))
def test_random_text_into_the_segment_and_experience_forms_is_never_a_server_error(
    owner_client, store, text
):
    value = text.encode("utf-8", "surrogatepass")
    for url in ("/app/segments/new/", "/app/experiences/new/", "/app/customers/"):
        _hammer(owner_client, url, value)


def test_the_offer_page_answers_hostile_tokens_with_a_clear_page(client):
    for value in HOSTILE_BYTES + [b"a.b.c", b"../../etc/passwd", b"%00"]:
        token = quote_from_bytes(value, safe=b"") or "x"
        for method in ("get", "post"):
            response = getattr(client, method)(f"/offers/{token}/")
            _assert_answered(response, f"{method} /offers/{value!r}/")
            assert response.status_code in (400, 404, 405, 410), (value, response.status_code)
