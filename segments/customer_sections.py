"""Sections that higher layers add to the merchant app's customer page.

``segments`` never imports ``experiences`` or ``rewards``; they register a section in their
``AppConfig.ready()``::

    register_customer_section("runs", "Experience runs", render_runs, order=20)

where ``render_runs(request, customer)`` returns ``(template_name, context)``. The "rewards"
section shows a placeholder ("No rewards yet") until the rewards app registers its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

SectionRenderer = Callable[[object, object], tuple[str, dict]]

PLACEHOLDERS = {
    "rewards": ("Rewards", "segments/_customer_rewards_placeholder.html", 30),
}


@dataclass(frozen=True)
class CustomerSection:
    key: str
    title: str
    render: SectionRenderer
    order: int = 50


_sections: dict[str, CustomerSection] = {}


def register_customer_section(key: str, title: str, render: SectionRenderer, order: int = 50):
    """Add (or replace) the section ``key`` of the customer page."""
    _sections[key] = CustomerSection(key, title, render, order)


def sections_for(request, customer) -> list[dict]:
    """Return the customer page's sections in order, each with its title and rendered HTML."""
    from django.template.loader import render_to_string

    shown = []
    for section in _sections.values():
        template, context = section.render(request, customer)
        shown.append((section.order, section.key, section.title, template, context))
    for key, (title, template, order) in PLACEHOLDERS.items():
        if key not in _sections:
            shown.append((order, key, title, template, {}))
    return [
        {
            "key": key,
            "title": title,
            "html": render_to_string(
                template, {"customer": customer, "store": request.store, **context}, request
            ),
        }
        for _order, key, title, template, context in sorted(shown, key=lambda s: (s[0], s[1]))
    ]
