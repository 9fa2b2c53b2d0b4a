"""Notification emails render in a locked-down Jinja2 sandbox: only the documented variables
reach them, and a template that cannot render is a validation error at publish, not a failed
send."""

import pytest

from experiences import actions
from experiences.templating import VARIABLES, render, template_problems
from tests.experiences.helpers import edge, node


@pytest.mark.parametrize(
    "source, problem",
    [
        ("{{ customer.nickname }}", "has no attribute 'nickname'"),
        ("{{ settings.SECRET_KEY }}", "'settings' is undefined"),
        ("{{ customer.__class__.__mro__ }}", "unsafe"),
        ("{{ customer.first_name.__class__ }}", "unsafe"),
        ("{% for i in range(10) %}x{% endfor %}", "loops"),
        ('{% include "admin/base.html" %}', "include"),
        ("{{ 'x' * 1000000000 }}", "the * operator"),
        ("{{ 9 ** 999999 }}", "the ** operator"),
        ("{{ customer.first_name|center(99999999) }}", "No filter named 'center'"),
        ("{% if %}", "line 1"),
        ("{% debug %}", "line 1"),
    ],
)
def test_dangerous_or_unknown_template_constructs_are_problems(source, problem):
    problems = template_problems(source)
    assert problems and problem in " ".join(problems), problems


def test_the_documented_variables_render():
    source = (
        "Hi {{ customer.first_name|default('there') }}, order {{ order.name }} "
        "({{ order.total }} {{ order.currency }}) from {{ store.name }}: {{ experience.name }}"
    )
    assert template_problems(source) == []
    assert render(source, VARIABLES).startswith("Hi Ada, order #1001 (40.00 USD)")


def test_the_engine_passes_exactly_the_documented_variables(store, customer):
    from experiences.context import EvaluationContext
    from experiences.models import Experience

    experience = Experience(store=store, name="E", kind="reward_strategy")
    evaluation = EvaluationContext(store, customer)
    given = evaluation.template_variables(experience)
    assert {k: sorted(v) for k, v in given.items()} == {k: sorted(v) for k, v in VARIABLES.items()}


def test_a_template_error_is_a_validation_error_at_publish(api, owner, store):
    # given a draft whose notification reads a variable that does not exist
    experience = actions.create_experience(store, name="Mail", kind="surprise_and_delight")
    nodes = [
        node("trigger", "trigger", {"confirm_every_order": True}),
        node("mail", "notification", {"subject": "Hi", "body": "{{ customer.password }}"}),
        node("end", "end"),
    ]
    actions.save_draft(
        experience, revision=1, nodes=nodes, edges=[edge("trigger", "mail"), edge("mail", "end")]
    )
    # when the owner publishes, then 400 names the node and the field, and nothing goes live
    url = f"/api/v1/stores/{store.slug}/experiences/{experience.pk}/publish/"
    response = api(owner).post(url)
    assert response.status_code == 400
    body_errors = response.json()["errors"]["nodes"]["mail"]["body"]
    assert "has no attribute 'password'" in body_errors[0]
    experience.refresh_from_db()
    assert experience.live_version is None
