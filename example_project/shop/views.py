from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render

from .models import Product


def product_list(request: HttpRequest) -> HttpResponse:
    products = Product.objects.select_related("category").order_by("name")[:50]
    return render(request, "shop/product_list.html", {"products": products})


def product_detail(request: HttpRequest, pk: int) -> HttpResponse:
    product = get_object_or_404(Product.objects.select_related("category"), pk=pk)
    return render(request, "shop/product_detail.html", {"product": product})


def healthz(request: HttpRequest) -> JsonResponse:
    """Railway's healthcheck: 200 when the app can reach its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
