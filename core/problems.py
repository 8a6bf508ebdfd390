"""RFC 9457 problem documents for every error the API returns, DRF's and Django's alike."""

from http import HTTPStatus

from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler

from core.errors import DomainError, TryAgainLater

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Relative type URIs (RFC 9457 §3.1.1): stable names a client can switch on.
PROBLEM_TYPE_BASE = "/problems/"


DEFAULT_DETAILS = {404: "Not found, or not yours.", 403: "You do not have permission to perform this action."}


def problem(
    *, status: int, detail: str, code: str | None = None, title: str | None = None, errors: dict | None = None
) -> dict:
    body = {
        "type": PROBLEM_TYPE_BASE + code if code else "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def flatten_errors(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as `{"items.0.quantity": ["…"]}`."""
    if isinstance(detail, dict):
        flat = {}
        for key, value in detail.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY and prefix:
                path = prefix  # an error of the nested object itself
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_errors(value, path))
        return flat
    if isinstance(detail, list) and any(isinstance(item, (dict, list)) for item in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or api_settings.NON_FIELD_ERRORS_KEY: [str(message) for message in messages if message]}


def problem_exception_handler(exc, context):
    if isinstance(exc, DomainError):
        body = problem(
            status=exc.status, detail=exc.detail, code=exc.code, title=exc.title, errors=getattr(exc, "errors", None)
        )
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TryAgainLater) else None
        return Response(body, status=exc.status, content_type=PROBLEM_CONTENT_TYPE, headers=headers)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            problem(status=413, detail="The request body is too large."),
            status=413,
            content_type=PROBLEM_CONTENT_TYPE,
        )

    response = exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django's handler500 answers with a problem document
    if isinstance(exc, exceptions.ValidationError):
        response.data = problem(
            status=response.status_code,
            code="validation-error",
            title="Your request is not valid",
            detail="One or more fields are invalid; see errors.",
            errors=flatten_errors(exc.detail),
        )
    else:
        detail = str(getattr(exc, "detail", "")) or DEFAULT_DETAILS.get(response.status_code, str(exc))
        response.data = problem(status=response.status_code, detail=detail)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _problem_response(status: int, detail: str) -> JsonResponse:
    return JsonResponse(problem(status=status, detail=detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


def bad_request(request, exception=None):
    if isinstance(exception, RequestDataTooBig):  # read outside the API, e.g. a form in the admin
        return _problem_response(413, "The request body is too large.")
    return _problem_response(400, "The request could not be read (malformed).")


def permission_denied(request, exception=None):
    return _problem_response(403, "You do not have permission to perform this action.")


def not_found(request, exception=None):
    return _problem_response(404, f"Nothing is found at {request.path}.")


def server_error(request):
    return _problem_response(500, "Something went wrong on our side; it has been logged.")
