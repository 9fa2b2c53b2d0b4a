"""What every page of the merchant app shares: rendering with the layout's context, the store
switcher, the login page and the app's home."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ..models import Role
from ..queries import stores_for
from ..web import choose_store, merchant_view


def render_page(request: HttpRequest, template: str, context: dict | None = None, **kwargs):
    """Render a page of the app with what the layout needs (stores for the switcher, role)."""
    membership = request.membership
    base = {
        "store": request.store,
        "membership": membership,
        "can_edit": membership.has_role(Role.EDITOR),
        "is_owner": membership.has_role(Role.OWNER),
        "app_stores": list(stores_for(request.user).order_by("name", "pk").only("id", "name")),
    }
    return TemplateResponse(request, template, {**base, **(context or {})}, **kwargs)


def render_partial(request: HttpRequest, template: str, context: dict | None = None, **kwargs):
    """Render an htmx partial (no layout)."""
    return TemplateResponse(request, template, context or {}, **kwargs)


class AppLoginView(auth_views.LoginView):
    template_name = "app/login.html"
    redirect_authenticated_user = True
    next_page = "/app/"


class AppLogoutView(auth_views.LogoutView):
    next_page = "/app/login/"


@merchant_view()
def home(request: HttpRequest) -> HttpResponse:
    return redirect("app-experiences")


@require_POST
@merchant_view()
def switch_store(request: HttpRequest) -> HttpResponse:
    """Make another of the user's stores the current one; a store they lack is a 404."""
    raw = request.POST.get("store", "")
    store = stores_for(request.user).filter(pk=int(raw) if raw.isdigit() else 0).first()
    if store is None:
        raise Http404
    choose_store(request, store)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, {request.get_host()}) or "/app/" not in back:
        back = reverse("app-home")
    # Object pages of the previous store would answer 404 in the new one: go to the section.
    section = back.split("/app/", 1)[1].split("/", 1)[0]
    return redirect(f"/app/{section}/" if section else reverse("app-home"))
