"""Django settings. Everything a deployment changes comes from the environment (FACEPROOF_*).

Embedded default: SQLite database, media under $FACEPROOF_HOME (never inside a web root) and a Huey queue in
one SQLite file, so `faceproof serve` needs no server. Scale out by environment alone: DATABASE_URL
(postgresql://...), FACEPROOF_REDIS_URL (workers on other machines), FACEPROOF_S3_BUCKET (django-storages).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from provenance.installation import home_from

BASE_DIR = Path(__file__).resolve().parent.parent
# Where this installation keeps its database, keys, custody log and media (outside any web root).
FACEPROOF_HOME = home_from(os.environ)

SECRET_KEY = os.environ.get("FACEPROOF_SECRET_KEY", "insecure-development-key-set-FACEPROOF_SECRET_KEY")
DEBUG = os.environ.get("FACEPROOF_DEBUG", "0") == "1"
ALLOWED_HOSTS = os.environ.get("FACEPROOF_ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "huey.contrib.djhuey",
    "webapp.console",
    "webapp.accounts",
    "webapp.projects",
    "webapp.jobs",
    "webapp.verify",
    "webapp.custody",
    "webapp.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "webapp.errors.UploadLimitMiddleware",  # after auth (its page shows the navigation), before any body is read
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "webapp.accounts.middleware.SecurityHeadersMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "webapp" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "webapp.errors.upload_limit",
            ]
        },
    }
]


def _database(url: str | None) -> dict:
    """DATABASE_URL (postgresql://user:pass@host:port/name) or the embedded SQLite file."""
    if not url:
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("FACEPROOF_DB", str(FACEPROOF_HOME / "faceproof.sqlite3")),
                "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"}}
    parts = urlparse(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be postgresql://... (got {parts.scheme}://)")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {"ENGINE": "django.db.backends.postgresql", "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""), "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "", "PORT": str(parts.port or ""), "OPTIONS": options, "CONN_MAX_AGE": 60}


DATABASES = {"default": _database(os.environ.get("DATABASE_URL"))}
if os.environ.get("FACEPROOF_DB_NAME"):  # a job's worker process joins the exact database its parent uses
    DATABASES["default"]["NAME"] = os.environ["FACEPROOF_DB_NAME"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# ---- files: media outside the web root; uploads stream to disk; hard size limits -------------------------
MEDIA_ROOT = Path(os.environ.get("FACEPROOF_MEDIA_ROOT", FACEPROOF_HOME / "media"))
STATIC_URL = "/static/"
STATIC_ROOT = FACEPROOF_HOME / "static"
STATICFILES_DIRS = [BASE_DIR / "webapp" / "static"]
WHITENOISE_USE_FINDERS = True  # static files straight from the package: no collectstatic step for `serve`
FACEPROOF_MAX_UPLOAD_BYTES = int(float(os.environ.get("FACEPROOF_MAX_UPLOAD_MB", "500")) * 1024 * 1024)
FACEPROOF_UPLOADS_PER_MINUTE = int(os.environ.get("FACEPROOF_UPLOADS_PER_MINUTE", "20"))
# What an upload may declare before anything decodes it (webapp/projects/uploads.py): a 48-megapixel phone photo of
# a consent form passes, frames up to 8K DCI (8192 x 4320), an hour of footage at up to 120 frames/s.
FACEPROOF_MAX_IMAGE_PIXELS = int(float(os.environ.get("FACEPROOF_MAX_IMAGE_MEGAPIXELS", "64")) * 1e6)
FACEPROOF_MAX_FRAME_PIXELS = int(float(os.environ.get("FACEPROOF_MAX_FRAME_MEGAPIXELS", "35.4")) * 1e6)
FACEPROOF_MAX_VIDEO_SECONDS = float(os.environ.get("FACEPROOF_MAX_VIDEO_SECONDS", "3600"))
FACEPROOF_MAX_VIDEO_FRAMES = int(os.environ.get("FACEPROOF_MAX_VIDEO_FRAMES", str(3600 * 120)))
FACEPROOF_MAX_STREAMS = int(os.environ.get("FACEPROOF_MAX_STREAMS", "8"))
FACEPROOF_DOWNLOAD_LINK_SECONDS = int(os.environ.get("FACEPROOF_DOWNLOAD_LINK_SECONDS", "600"))
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
if os.environ.get("FACEPROOF_S3_BUCKET"):  # archive copies of sealed outputs in S3-compatible storage
    STORAGES["archive"] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": os.environ["FACEPROOF_S3_BUCKET"],
        "endpoint_url": os.environ.get("FACEPROOF_S3_ENDPOINT") or None,
        "default_acl": "private", "querystring_auth": True,
    }}

# ---- the job queue: Huey in one SQLite file, or Redis for workers on other machines ----------------------
_REDIS = os.environ.get("FACEPROOF_REDIS_URL")
HUEY = {
    "name": os.environ.get("FACEPROOF_QUEUE", "faceproof"),  # a GPU worker consumes FACEPROOF_QUEUE=<gpu queue>
    "immediate": False,
    "results": False,
    "consumer": {"workers": int(os.environ.get("FACEPROOF_WORKERS", "1")), "worker_type": "thread"},
    **({"huey_class": "huey.RedisHuey", "url": _REDIS} if _REDIS else
       {"huey_class": "huey.SqliteHuey", "filename": str(FACEPROOF_HOME / "queue.sqlite3")}),
}

# With Redis, jobs of these kinds go to their own queue, which GPU machines consume.
FACEPROOF_GPU_QUEUE = os.environ.get("FACEPROOF_GPU_QUEUE") or None
FACEPROOF_GPU_KINDS = tuple(os.environ.get("FACEPROOF_GPU_KINDS", "train,convert").split(","))
if FACEPROOF_GPU_QUEUE and not _REDIS:
    raise ValueError("FACEPROOF_GPU_QUEUE needs FACEPROOF_REDIS_URL: the embedded SQLite queue has one worker")

# ---- REST API ----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": os.environ.get("FACEPROOF_API_RATE", "600/minute")},
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}

# ---- security: secure cookies and HSTS once served over HTTPS (FACEPROOF_HTTPS=1) -------------------------
_HTTPS = os.environ.get("FACEPROOF_HTTPS", "0") == "1"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = _HTTPS
SECURE_SSL_REDIRECT = _HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if _HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_PRELOAD = _HTTPS
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 3600
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "webapp.errors.csrf_failure"
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("FACEPROOF_CSRF_ORIGINS", "").split(",") if o]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"faceproof.web": {"handlers": ["console"], "level": "INFO"}, "huey": {"handlers": ["console"], "level": "WARNING"},
                # Django logs an unhandled error (a 500) with its traceback here; by default it only mails ADMINS,
                # which an installation rarely sets, so nothing reached the server log.
                "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False}},
}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # also makes FACEPROOF_HOME
