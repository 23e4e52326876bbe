"""Realistic, awkward rows for the example project's tables."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from orders.models import Order, OrderItem
from shop.models import Category, Product

AWKWARD = "tab\there, newline\nthere, back\\slash, quote ' \" , unicode é漢字🙂, \\N not null"


def seed(alias: str, n: int = 20) -> None:
    groups = [Group.objects.using(alias).create(name=f"group {i} {AWKWARD[:40]}") for i in range(5)]
    perms = list(Permission.objects.using(alias).all()[:10])
    groups[0].permissions.set(perms)
    for i in range(n):
        user = User.objects.using(alias).create(
            username=f"user{i}",
            email=f"u{i}@example.com" if i % 3 else "",
            first_name=AWKWARD if i % 2 else "Zoë",
            last_login=None
            if i % 4
            else dt.datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=dt.UTC),
        )
        user.groups.set(groups[: i % 4])
    books = Category.objects.using(alias).get(slug="books")
    extra = Category.objects.using(alias).create(name="Ünïcode", slug="unicode")
    products = [
        Product.objects.using(alias).create(
            category=books if i % 2 else extra,
            name=f"product {i} {AWKWARD}",
            price=Decimal("12345678.90") if i == 0 else Decimal(i) / 7,
            stock=i * 1000,
        )
        for i in range(n)
    ]
    for i in range(n):
        order = Order.objects.using(alias).create(
            customer_email=f"c{i}@example.com", status=["new", "paid", "shipped"][i % 3]
        )
        for product in products[i % 5 : i % 5 + 3]:
            OrderItem.objects.using(alias).create(order=order, product=product, quantity=i + 1)
    content_type = ContentType.objects.db_manager(alias).get_for_model(Product)
    LogEntry.objects.using(alias).create(
        user=User.objects.using(alias).first(),
        content_type=content_type,
        object_id=None,
        object_repr=AWKWARD,
        action_flag=1,
        change_message='[{"added": {"name": "é", "n": [1, 2.5, null, true]}}]',
    )
    Session.objects.using(alias).create(
        session_key="k" * 32,
        session_data=AWKWARD,
        expire_date=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
