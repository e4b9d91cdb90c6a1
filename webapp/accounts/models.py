"""Organisations and the role each user plays in one: every page and API route checks both."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.utils.text import slugify


class Role(models.TextChoices):
    PRODUCER = "producer", "Producer"  # makes swaps: projects, consent, extraction, training, conversion
    VERIFIER = "verifier", "Verifier"  # newsroom: checks clips with the detector
    AUDITOR = "auditor", "Auditor"  # reads the custody log, read-only
    ADMIN = "admin", "Organisation admin"  # everything within the organisation


# Identities are named in the shared custody log `<slug>-p<project>-<name>` (Identity.custody_name). A slug holding
# "-p<digits>" at a word's end could make another organisation's name: "a" + "-p1-" + "b-p2-x" == "a-p1-b" + "-p2-" +
# "x", and a consent recorded by one would count for the other. A new slug never holds one.
_PROJECT_MARK = re.compile(r"-p(\d+)(?=-|$)")


def safe_slug(slug: str) -> str:
    """The slug with every "-p<digits>" word split ("-p-<digits>"), so no custody name can be read two ways."""
    return _PROJECT_MARK.sub(r"-p-\1", slug)[:60]


class Organisation(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)

    def save(self, *args, **kwargs):
        self.slug = self.slug or slugify(self.name)[:60] or "org"
        if self._state.adding:  # an existing slug names past custody events and face folders: it stays
            self.slug = safe_slug(self.slug)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One user belongs to one organisation with one role (a person with two roles has two accounts)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=16, choices=Role.choices)

    def __str__(self) -> str:
        return f"{self.user} ({self.role} at {self.organisation})"


def membership_of(user) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.membership
    except Membership.DoesNotExist:
        return None


def has_role(user, *roles: str) -> bool:
    """Admins of an organisation may do what any role may; users without a membership may do nothing."""
    member = membership_of(user)
    return member is not None and (member.role in roles or member.role == Role.ADMIN)
