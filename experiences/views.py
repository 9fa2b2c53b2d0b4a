"""The merchant-facing pages of the experiences app: the flow builder (canvas).

The page is a shell: it names the experience and hands the client what it needs to talk to the
public API (store slug, experience id, role, API base); the canvas does everything else through
that API, exactly like an integration would.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.templatetags.static import static
from django.urls import reverse

from segments.web import merchant_view

from .queries import experiences_for


@merchant_view()
def builder(request, pk: int):
    """Render the full-screen builder of an experience of the current store (404 otherwise)."""
    experience = get_object_or_404(experiences_for(request.store), pk=pk)
    boot = {
        "store": request.store.slug,
        "experience": experience.pk,
        "name": experience.name,
        "kind": experience.kind,
        "role": request.membership.role,
        "api": f"{reverse('store-list')}{request.store.slug}/",
        "back": "/app/experiences/",
    }
    return render(
        request,
        "experiences/builder.html",
        {
            "experience": experience,
            "boot": boot,
            "script": static("experiences/builder/builder.js"),
            "stylesheet": static("experiences/builder/builder.css"),
        },
    )
