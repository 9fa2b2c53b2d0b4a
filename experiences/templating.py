"""The language of notification emails: Jinja2 in a locked-down sandbox.

Merchants write ``{{ customer.first_name }}``, ``{% if order.name %}...{% endif %}`` and a few
filters (``{{ customer.first_name|default("there") }}``). The sandbox (``SandboxedEnvironment``)
refuses attribute tricks; on top of it there are no globals (no ``range``, ``lipsum``, ...), no
loader (no ``include``/``import``/``extends``), an allowlist of cheap filters, and no loops,
macros, ``*`` or ``**`` (the costly constructs). Only ``VARIABLES`` reach a template, as plain
dictionaries of plain values, and an unknown name is an error (``StrictUndefined``), found when
the draft is validated, by rendering the template against sample values.
"""

from __future__ import annotations

import functools

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

# The documented variables (README "Notification emails"), with sample values for validation.
VARIABLES: dict[str, dict[str, object]] = {
    "customer": {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "orders_count": 3,
        "subscription_orders_count": 2,
        "total_spent": "120.00",
    },
    "order": {"name": "#1001", "total": "40.00", "currency": "USD"},
    "experience": {"name": "Third order reward"},
    "store": {"name": "Demo Coffee Co"},
}

ALLOWED_FILTERS = {
    "capitalize",
    "default",
    "d",
    "e",
    "escape",
    "first",
    "float",
    "int",
    "last",
    "length",
    "lower",
    "replace",
    "round",
    "string",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
}
FORBIDDEN_NODES = {
    nodes.For: "loops ({% for %})",
    nodes.Macro: "macros",
    nodes.CallBlock: "call blocks",
    nodes.Include: "include",
    nodes.Import: "import",
    nodes.FromImport: "import",
    nodes.Extends: "extends",
    nodes.Mul: "the * operator",
    nodes.Pow: "the ** operator",
}
MAX_OUTPUT = 100_000


class NotificationEnvironment(SandboxedEnvironment):
    # Even if a template sneaks one past validation, these operators stay refused at render time.
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context, operator, left, right):
        raise TemplateError(f"The {operator} operator is not available in notifications.")


ENVIRONMENT = NotificationEnvironment(
    autoescape=False, undefined=StrictUndefined, loader=None, auto_reload=False, cache_size=0
)
ENVIRONMENT.globals.clear()
ENVIRONMENT.filters = {k: v for k, v in ENVIRONMENT.filters.items() if k in ALLOWED_FILTERS}


def template_problems(source: str) -> list[str]:
    """Return what is wrong with the template (empty when it renders with the sample values)."""
    try:
        tree = ENVIRONMENT.parse(source)
    except TemplateError as exc:
        return [_message(exc)]
    problems = []
    for node_class, label in FORBIDDEN_NODES.items():
        found = next(iter(tree.find_all(node_class)), None)
        if found is not None:
            problems.append(f"line {found.lineno}: {label} are not available in notifications.")
    if problems:
        return problems
    try:
        render(source, VARIABLES)
    except TemplateError as exc:
        return [_message(exc)]
    except (ArithmeticError, TypeError, ValueError) as exc:
        return [f"The template cannot be rendered: {exc}"]
    return []


@functools.lru_cache(maxsize=1024)
def _compiled(source: str):
    """The compiled template of a source (published templates never change): compile once."""
    return ENVIRONMENT.from_string(source)


def render(source: str, variables: dict) -> str:
    """Render the template with the variables; raise ``TemplateError`` on any problem."""
    output = _compiled(source).render(variables)
    if len(output) > MAX_OUTPUT:
        raise TemplateError(f"The rendered email is longer than {MAX_OUTPUT} characters.")
    return output


def _message(exc: TemplateError) -> str:
    line = getattr(exc, "lineno", None)
    return f"line {line}: {exc.message}" if line else str(exc.message or exc)
