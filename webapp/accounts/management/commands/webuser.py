"""`faceproof webuser NAME --org ORG --role ROLE`: create (or update) a web user in an organisation."""

from __future__ import annotations

import getpass
import os

from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from webapp.accounts.models import Membership, Organisation, Role


class Command(BaseCommand):
    help = "Create or update a web app user: organisation (created when new), role, password."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--org", required=True, help="organisation name")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--staff", action="store_true", help="may use /admin/ and export the full custody log")
        parser.add_argument("--password-env", default="FACEPROOF_WEB_PASSWORD",
                            help="environment variable holding the password (else it is asked for)")

    def handle(self, *args, **o):
        # A fresh FACEPROOF_HOME has no tables yet: the README's first step must not end in "no such table".
        call_command("migrate", interactive=False, verbosity=0)
        password = os.environ.get(o["password_env"]) or getpass.getpass(f"password for {o['username']}: ")
        try:
            validate_password(password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        with transaction.atomic():
            org, _ = Organisation.objects.get_or_create(name=o["org"])
            user, created = User.objects.get_or_create(username=o["username"])
            user.set_password(password)
            user.is_staff = user.is_superuser = o["staff"]
            user.save()
            Membership.objects.update_or_create(user=user, defaults={"organisation": org, "role": o["role"]})
        self.stdout.write(f"{'created' if created else 'updated'} {user.username}: {o['role']} at {org.name}")
