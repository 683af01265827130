"""Error bodies every route shares, declared in the OpenAPI document as they are sent."""

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class Problem(BaseModel):
    """Why a request failed, in one line."""

    detail: str


class Unavailable(Exception):
    """A dependency (the database, the broker) cannot serve this request now: a 503."""

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


_DESCRIPTIONS = {
    status.HTTP_400_BAD_REQUEST: "The body is not valid JSON",
    status.HTTP_404_NOT_FOUND: "No such resource",
    status.HTTP_413_CONTENT_TOO_LARGE: "The body is larger than MAX_BODY_SIZE",
    status.HTTP_502_BAD_GATEWAY: "An upstream service failed",
    status.HTTP_503_SERVICE_UNAVAILABLE: "A dependency is unavailable; retry later",
    status.HTTP_504_GATEWAY_TIMEOUT: "An upstream service took too long",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries for these error statuses, each with the `Problem` schema."""
    return {code: {"model": Problem, "description": _DESCRIPTIONS[code]} for code in codes}


# Declared on every route that takes a JSON body.
BODY = responses(status.HTTP_400_BAD_REQUEST, status.HTTP_413_CONTENT_TOO_LARGE)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Unavailable)
    return JSONResponse(
        {"detail": exc.detail},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return JSONResponse(
            {"detail": "the request body is not valid JSON"},
            status_code=status.HTTP_400_BAD_REQUEST,
        )
    # Only where and what: the input itself is not echoed back (it may be large or secret).
    details = [{k: error[k] for k in ("type", "loc", "msg") if k in error} for error in errors]
    return JSONResponse({"detail": details}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


def install(app: FastAPI) -> None:
    """Map `Unavailable` to 503 and malformed JSON to 400 on `app`."""
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(RequestValidationError, _invalid)
