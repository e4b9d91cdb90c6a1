"""Errors a person meets: refusals and failures are a page of the app (navigation, the reason, a way on) or, from
the CLI and in a failed job, one line, never a server's bare text or a traceback.

Each core package has one root for the refusals a person can act on: `SwapcoreError` (media, alignments,
training, conversion), `ProvenanceError` (keys, manifests, custody, consent) and `DetectorError` (analysis);
`USER_ERRORS` names them for the entry points. Anything else is a bug and is logged with its traceback.

Django calls the page handlers (named in webapp.urls) when DEBUG is off; `UploadLimitMiddleware` answers an upload
over FACEPROOF_MAX_UPLOAD_MB before its body is read, naming the limit, and `csrf_failure` explains a stale form.
The API keeps answering JSON.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.shortcuts import render

from detector.errors import DetectorError
from provenance.errors import ProvenanceError
from swapcore.errors import SwapcoreError

USER_ERRORS: tuple[type[Exception], ...] = (SwapcoreError, ProvenanceError, DetectorError)
log = logging.getLogger("faceproof.web")
MULTIPART_SLACK = 1024 * 1024  # form fields and multipart boundaries around the file itself
PAGES = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "Your role does not allow this page."),
    404: ("Not found", "There is nothing here that you may see. Check the address, or start again from your start page."),
    413: ("Upload too large", "The upload is larger than this installation accepts."),
    429: ("Too many requests", "Too many requests in a short time: wait a moment and try again."),
    500: ("Something went wrong", "An internal error stopped this request. It was logged for the administrators; "
                                  "try again, and tell them the time if it happens again."),
}


def error_page(request: HttpRequest, status: int, reason: str = "") -> HttpResponse:
    title, default = PAGES[status]
    return render(request, "error.html", {"status": status, "title": title, "reason": reason or default},
                  status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    # Django's 400s (a disallowed Host header, an oversized form) carry developer wording: the page explains.
    return error_page(request, 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_page(request, 403, str(exception))  # our PermissionDenied messages are written for people


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return error_page(request, 404)  # never confirm what exists elsewhere: one wording for every 404


def server_error(request: HttpRequest) -> HttpResponse:
    try:
        return error_page(request, 500)
    except Exception:  # the page itself failed (the database is down, say): plain words, still no traceback
        log.exception("the 500 page could not be rendered")
        return HttpResponseServerError(f"<!doctype html><title>Error</title><h1>{PAGES[500][0]}</h1><p>{PAGES[500][1]}</p>"
                                       '<p><a href="/">Home</a></p>')


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_page(request, 403, "This form expired or came from another site. Reload the page and send it again.")


def _size(count: int) -> str:
    return f"{count / 2**20:.0f} MB" if count >= 2**20 else f"{count / 1024:.0f} KB"


def too_large(request: HttpRequest, length: int) -> HttpResponse:
    reason = f"The upload is {_size(length)}; the limit is {_size(settings.FACEPROOF_MAX_UPLOAD_BYTES)}."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": reason}, status=413)
    return error_page(request, 413, reason)


def upload_limit(request: HttpRequest) -> dict[str, int]:
    """Template context: the upload limit, which base.html hands to app.js so a browser refuses an oversize file
    before sending it (waitress would answer a body beyond twice the limit with its bare 413)."""
    return {"max_upload_bytes": settings.FACEPROOF_MAX_UPLOAD_BYTES}


class UploadLimitMiddleware:
    """Refuses a request whose declared body exceeds the upload limit before anything reads that body."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        length = request.META.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > settings.FACEPROOF_MAX_UPLOAD_BYTES + MULTIPART_SLACK:
            return too_large(request, int(length))
        return self.get_response(request)
