"""The API's own description: ``/openapi.json`` (needs a token) and the ``/docs`` and ``/redoc`` pages,
whose scripts and styles are served from ``/static/`` (vendored, see ``static/VENDORED.md``), never from a
CDN: hospital networks are often offline.

A browser cannot send a bearer token when it opens a page, so the two pages are static shells holding
no API information; their loader (``static/docs.js``) asks for a token and fetches ``/openapi.json``
with it. Every page answers with a Content-Security-Policy that allows only this server's own files.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from monitor.entrypoints.api.security import Authenticator
from monitor.service.access import Principal

__all__ = ["CONTENT_SECURITY_POLICY", "STATIC_DIR", "install_docs"]

STATIC_DIR = Path(str(files("monitor.entrypoints.api") / "static"))
#: Only this server's files; inline styles (Swagger UI and ReDoc set them), blob workers (ReDoc's search).
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                           "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; "
                           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
{style}
</head>
<body data-viewer="{viewer}">
<form id="token-form" style="font-family: sans-serif; margin: 2em;">
  <h1 style="font-size: 1.4em;">{title}</h1>
  <p>The API description needs an API token (<code>samd-monitor token create</code>; any role). It is kept
  in this browser tab only and sent with the requests you try out.</p>
  <label for="token">Token</label>
  <input id="token" name="token" type="password" autocomplete="off" size="70" placeholder="smt_...">
  <button type="submit">Show the API</button>
  <p id="token-message" role="status"></p>
</form>
<div id="ui"></div>
<script src="static/{script}"></script>
<script src="static/docs.js"></script>
</body>
</html>
"""


def _page(title: str, viewer: str, script: str, style: str) -> HTMLResponse:
    html = _PAGE.format(title=title, viewer=viewer, script=script, style=style)
    return HTMLResponse(html, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                       "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def install_docs(api: FastAPI, auth: Authenticator) -> None:
    """``/openapi.json`` for any valid token; ``/docs``, ``/redoc`` and ``/static/*`` open (no API data)."""

    @api.get("/openapi.json", include_in_schema=False)
    def openapi_document(request: Request, _: Principal = Depends(auth.principal)) -> JSONResponse:
        return JSONResponse(request.app.openapi())

    @api.get("/docs", include_in_schema=False)
    def swagger_page() -> HTMLResponse:
        return _page(api.title, "swagger", "swagger-ui-bundle.js",
                     '<link rel="stylesheet" href="static/swagger-ui.css">')

    @api.get("/redoc", include_in_schema=False)
    def redoc_page() -> HTMLResponse:
        return _page(api.title, "redoc", "redoc.standalone.js", "")

    api.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
