"""Role checks for views: login, a membership, an allowed role; objects only from the user's organisation."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404

from webapp.accounts.models import has_role, membership_of


def role_required(*roles: str) -> Callable:
    """Anonymous users go to the login page; signed-in users without one of `roles` get 403."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, *roles):
                raise PermissionDenied("your role does not allow this page")
            request.organisation = membership_of(request.user).organisation
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = roles  # read by the permission matrix test
        return wrapper

    return decorate


def org_object(request, model, **lookup):
    """The object, only if it belongs to the user's organisation; otherwise 404 (never reveal it exists)."""
    field = getattr(model, "ORGANISATION_FIELD", "organisation")
    return get_object_or_404(model, **{field: request.organisation}, **lookup)
