"""Django settings. Everything a deployment changes comes from the environment (FACEPROOF_*)."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
# Where this installation keeps its database, keys, custody log and media (outside any web root).
FACEPROOF_HOME = Path(os.environ.get("FACEPROOF_HOME", Path.home() / ".faceproof")).expanduser()

SECRET_KEY = os.environ.get("FACEPROOF_SECRET_KEY", "insecure-development-key-set-FACEPROOF_SECRET_KEY")
DEBUG = os.environ.get("FACEPROOF_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("FACEPROOF_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "webapp.console",
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("FACEPROOF_DB", str(FACEPROOF_HOME / "faceproof.sqlite3")),
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"

FACEPROOF_HOME.mkdir(parents=True, exist_ok=True)
