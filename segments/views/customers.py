"""Customer pages: search by email, and a customer with their figures, segments (with why),
and the sections that higher layers add (runs from experiences, rewards)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from ..customer_sections import sections_for
from ..models import Customer
from ..queries import membership_explanations, scoped
from ..web import merchant_view
from .common import render_page


@merchant_view()
def customer_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    customers = scoped(Customer, request.store).only(
        "id", "email", "first_name", "last_name", "orders_count", "total_spent",
        "active_subscriptions_count", "last_order_at",
    )  # fmt: skip
    if query:
        customers = customers.filter(email__icontains=query)
    page = Paginator(customers.order_by("-created_at", "-id"), 50).get_page(request.GET.get("page"))
    return render_page(request, "segments/customer_list.html", {"page": page, "q": query})


@merchant_view()
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = get_object_or_404(scoped(Customer, request.store), pk=customer_id)
    context = {
        "customer": customer,
        "memberships": list(membership_explanations(request.store, customer)),
        "sections": sections_for(request, customer),
    }
    return render_page(request, "segments/customer_detail.html", context)
