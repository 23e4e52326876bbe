"""Who may see what: staff users, or a caller holding ``RAILOPS["HEALTH_TOKEN"]``."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from .. import conf


def bearer_token_ok(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    if not header:  # the healthcheck's case: no setting read, nothing compared
        return False
    scheme, _, given = header.partition(" ")
    expected = conf.get("HEALTH_TOKEN")
    if not expected or scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(given.strip().encode(), str(expected).encode())


def is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_active and user.is_staff)


def privileged(request: HttpRequest) -> bool:
    """A token holder, or a staff user signed in with a session. Railway's healthcheck sends
    neither, so its requests read no setting and no session."""
    if bearer_token_ok(request):
        return True
    return settings.SESSION_COOKIE_NAME in request.COOKIES and is_staff(request)


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the admin login (and come back); signed-in non-staff get 403."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        if not is_staff(request):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped
