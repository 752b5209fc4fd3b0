"""The API's guards: the bearer token, trusted ``Host`` names, and the API's own description.

* **Token.** With ``settings.api_token`` set, every route of the guarded router needs
  ``Authorization: Bearer <token>`` (401 otherwise, compared in constant time), and so do
  ``/openapi.json``, ``/docs`` and ``/redoc``: the description of a private API is private too.
  Without a token the dependency lets everything through and the OpenAPI document says so
  (each operation's ``security`` starts with ``{}``, OpenAPI's "no authentication needed").
* **Host.** Starlette's ``TrustedHostMiddleware`` (through ``fastapi.middleware.trustedhost``)
  answers 400 to a request whose ``Host`` header is not a trusted name
  (:meth:`~sessionbeat.settings.Settings.trusted_hosts`): a page on ``evil.example`` whose DNS
  name was made to point at 127.0.0.1 (DNS rebinding) gets nothing from the browser.

The ``*_RESPONSES`` dicts document the statuses these guards and the named errors add to a
route, for FastAPI's ``responses=``.
"""

import secrets
from collections.abc import Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sessionbeat.models import ErrorDetail
from sessionbeat.settings import Settings

ResponsesDoc = dict[int | str, dict[str, Any]]
"""FastAPI's ``responses=``: status -> description and model."""

HOST_RESPONSES: ResponsesDoc = {
    400: {"description": "the Host header is not a trusted name (allowed_hosts); plain text"}
}
UNAUTHORIZED_RESPONSES: ResponsesDoc = {
    401: {"model": ErrorDetail, "description": "missing or wrong bearer token"}
}
NOT_FOUND_RESPONSES: ResponsesDoc = {404: {"model": ErrorDetail, "description": "no such session"}}
UNAVAILABLE_RESPONSES: ResponsesDoc = {
    503: {"model": ErrorDetail, "description": "the history cannot be read right now"}
}


def token_guard(settings: Settings) -> Callable[..., None]:
    """Return a dependency enforcing ``Authorization: Bearer <api_token>`` when one is set.

    Raises ``HTTPException`` 401 (``WWW-Authenticate: Bearer``) for a missing or wrong token.
    """
    expected = settings.api_token.get_secret_value() if settings.api_token else None
    bearer = HTTPBearer(
        auto_error=False,
        description=(
            "the aggregator's api_token (SESSIONBEAT_API_TOKEN)"
            if expected
            else "optional: this aggregator has no api_token set, so none is needed"
        ),
    )

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> None:
        if expected is None:
            return
        if credentials is None or not secrets.compare_digest(
            credentials.credentials.encode(), expected.encode()
        ):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token (Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_token


def guarded_router(settings: Settings) -> APIRouter:
    """Return the router of every route behind the token (its 401 documented when one is set)."""
    return APIRouter(
        dependencies=[Depends(token_guard(settings))],
        responses=UNAUTHORIZED_RESPONSES if settings.api_token else None,
    )


def install(
    app: FastAPI, router: APIRouter, settings: Settings, trusted_hosts: Sequence[str]
) -> None:
    """Add the guards to ``app``; ``router`` is the one :func:`guarded_router` returned.

    Call it before ``app.include_router(router)``: with a token it adds ``/openapi.json``,
    ``/docs`` and ``/redoc`` to ``router``; without one it marks the bearer token optional in
    the OpenAPI document. ``trusted_hosts`` are the ``Host`` names answered (others get 400).
    """
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(trusted_hosts), www_redirect=False)
    if settings.api_token is None:
        base = app.openapi

        def openapi() -> dict[str, Any]:
            document = base()
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    security = operation.get("security")
                    if security and security[0] != {}:
                        security.insert(0, {})
            return document

        app.openapi = openapi  # type: ignore[method-assign]
        return

    @router.get("/openapi.json", include_in_schema=False)
    def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - Swagger UI")

    @router.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")
