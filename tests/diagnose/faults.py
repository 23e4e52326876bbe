"""Real faults the diagnose tests plant: a view that raises, a view that writes, a broken WSGI."""

from __future__ import annotations

from django.core.mail import mail_admins
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from shop.models import Category


def boom(request: HttpRequest) -> HttpResponse:
    prices = {}
    return HttpResponse(prices["missing"])  # KeyError, as a real bug would


def writes(request: HttpRequest) -> HttpResponse:
    Category.objects.create(name="written-by-replay", slug="written-by-replay")
    mail_admins("replay", "this must not leave the process")
    return HttpResponse("ok")


def writes_then_crashes(request: HttpRequest) -> HttpResponse:
    Category.objects.create(name="written-then-crash", slug="written-then-crash")
    raise RuntimeError("crash after a write")


def sleeps(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(5)")
    return HttpResponse("slept")


urlpatterns = [
    path("sleeps/", sleeps),
    path("boom/", boom),
    path("writes/", writes),
    path("writes-then-crashes/", writes_then_crashes),
    path("", include("config.urls")),
]
