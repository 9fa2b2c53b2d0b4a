"""A typed client generated from the published schema (``openapi-python-client``, in a temporary
directory) drives one happy path against the live server: the schema is good enough to build
integrations on, not only to read."""

import importlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from segments.models import Segment

GENERATOR = Path(sys.executable).with_name("openapi-python-client")


def generate_client(base_url: str, where: Path):
    with urllib.request.urlopen(f"{base_url}/api/schema/?format=json") as answer:
        (where / "schema.json").write_text(json.dumps(json.load(answer)))
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", "schema.json", "--output-path", "subexp_client"]
        + ["--meta", "none", "--fail-on-warning"],
        cwd=where,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module("subexp_client")
    finally:
        sys.path.remove(str(where))


def test_a_client_generated_from_the_schema_builds_and_publishes_an_experience(
    live_server, seeded_store, tmp_path
):
    # given a client generated from the live schema, authenticated with an owner's token
    store, token = seeded_store
    sc = generate_client(live_server.url, tmp_path)
    api = importlib.import_module("subexp_client.api.v1")
    models = importlib.import_module("subexp_client.models")
    call = {
        name: importlib.import_module(f"subexp_client.api.v1.{name}")
        for name in [
            "v1_stores_list",
            "v1_stores_experiences_create",
            "v1_stores_experiences_draft_retrieve",
            "v1_stores_experiences_draft_update",
            "v1_stores_experiences_publish_create",
            "v1_stores_experiences_versions_list",
            "v1_stores_experiences_retrieve",
            "v1_stores_node_types_retrieve",
            "v1_stores_segments_list",
        ]
    }
    assert api is not None
    client = sc.AuthenticatedClient(base_url=live_server.url, token=token, prefix="Token")
    reached = Segment.objects.get(store=store, name="Top Customers")
    slug = store.slug

    # when it lists its stores, the node types and segments, then every answer parses
    stores = call["v1_stores_list"].sync(client=client)
    assert [s.slug for s in stores.results] == [slug]
    catalog = call["v1_stores_node_types_retrieve"].sync(store_slug=slug, client=client)
    assert "trigger" in {t.type_ for t in catalog.node_types}
    segments = call["v1_stores_segments_list"].sync(store_slug=slug, client=client)
    assert reached.pk in {s.id for s in segments.results}

    # when it creates an experience: a draft with no live version yet (null, as documented)
    body = models.ExperienceCreateRequest.from_dict(
        {"name": "Generated", "kind": "reward_strategy"}
    )
    created = call["v1_stores_experiences_create"].sync(store_slug=slug, client=client, body=body)
    assert isinstance(created, models.Experience), created
    assert created.live_version is None and created.status.value == "draft"

    # and reads its draft, saves a graph at that revision and publishes it
    draft = call["v1_stores_experiences_draft_retrieve"].sync(
        store_slug=slug, id=created.id, client=client
    )
    graph = models.DraftInputRequest.from_dict(
        {
            "revision": draft.revision,
            "nodes": [
                {
                    "key": "trigger",
                    "type": "trigger",
                    "config": {"event": "order_processed", "confirm_every_order": True},
                },
                {"key": "add", "type": "segment", "config": {"segment_id": reached.pk}},
                {"key": "end", "type": "end", "config": {}},
            ],
            "edges": [
                {"source": "trigger", "target": "add"},
                {"source": "add", "target": "end"},
            ],
        }
    )
    saved = call["v1_stores_experiences_draft_update"].sync(
        store_slug=slug, id=created.id, client=client, body=graph
    )
    assert isinstance(saved, models.Draft), saved
    assert saved.valid, saved.errors
    published = call["v1_stores_experiences_publish_create"].sync(
        store_slug=slug, id=created.id, client=client
    )
    assert isinstance(published, models.Graph), published

    # then the experience is live on version 1, and its versions list (not paginated) says so
    live = call["v1_stores_experiences_retrieve"].sync(
        store_slug=slug, id=created.id, client=client
    )
    assert live.status.value == "live" and live.live_version == 1
    versions = call["v1_stores_experiences_versions_list"].sync(
        store_slug=slug, id=created.id, client=client
    )
    assert [(v.number, v.state) for v in versions] == [(1, "published")]
