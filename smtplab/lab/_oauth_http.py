"""The lab's OAuth server over HTTP: Starlette routes for Authlib's endpoints, the RFC 8414
metadata, and two small HTML pages a learner can use in a real browser (approve a device code;
sign in for the authorization-code flow). Everything echoed into a page is HTML-escaped.

Private to :mod:`smtplab.lab.oauth`.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from typing import Any, Final

from authlib.oauth2 import OAuth2Error

from smtplab.lab._oauth_authlib import _Request, _User


async def _oauth_request(request: Any) -> _Request:
    """A Starlette request as Authlib wants it (the body read here, once)."""
    body = await request.body() if request.method == "POST" else b""
    return _Request(request.method, str(request.url), request.headers, request.url.query, body)


def _invalid(error: OAuth2Error) -> Any:
    """An invalid authorization request: said on a page, never redirected (RFC 6749 4.1.2.1:
    with a bad client or redirect URI the server must not redirect)."""
    from starlette.responses import HTMLResponse

    text = getattr(error, "description", None) or type(error).__name__
    return HTMLResponse(_page("Invalid request", f"<p>{html.escape(str(text))}</p>"), 400)


class _Routes:
    """One method per route; ``oauth`` is the :class:`~smtplab.lab.oauth.LabOAuth` served."""

    def __init__(self, oauth: Any) -> None:
        self.oauth = oauth
        self.server = oauth._server

    def endpoint(self, name: str) -> Callable[[Any], Any]:
        """Authlib's token endpoint or one of its registered endpoints, as a route."""

        async def handle(request: Any) -> Any:
            req = await _oauth_request(request)
            if name == "token":
                return self.server.create_token_response(req)
            return self.server.create_endpoint_response(name, req)

        return handle

    async def metadata(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        return JSONResponse(self.oauth.metadata())

    async def home(self, request: Any) -> Any:
        from starlette.responses import RedirectResponse

        return RedirectResponse("/device")

    async def device(self, request: Any) -> Any:
        """The page where a learner types a device flow's code and the lab password."""
        from starlette.responses import HTMLResponse

        req = await _oauth_request(request)
        if request.method == "GET":
            return HTMLResponse(_device_form(req.args.get("user_code", ""), ""))
        code = req.form.get("user_code", "")
        if not self.oauth._password_ok(req.form.get("password", "")):
            return HTMLResponse(_device_form(code, "Wrong password."), status_code=401)
        approved = req.form.get("action") == "approve"
        if not self.oauth._decide(code, approved):
            return HTMLResponse(
                _device_form(code, "No waiting sign-in has that code."), status_code=404
            )
        word = "approved" if approved else "refused"
        return HTMLResponse(_page("Done", f"<p>Sign-in {word}. Go back to your program.</p>"))

    async def authorize(self, request: Any) -> Any:
        """The sign-in page of the authorization-code flow: GET shows it, POST decides."""
        from starlette.responses import HTMLResponse

        req = await _oauth_request(request)
        if request.method == "GET":
            try:
                self.server.get_consent_grant(req, end_user=None)
            except OAuth2Error as e:
                return _invalid(e)
            return HTMLResponse(_consent_form(req.args, ""))
        fields = {**req.args, **req.form}
        user = _User(self.oauth.user)
        approve = fields.get("action") == "approve"
        if approve and not self.oauth._password_ok(fields.get("password", "")):
            return HTMLResponse(_consent_form(fields, "Wrong password."), status_code=401)
        try:
            grant = self.server.get_consent_grant(req, end_user=user)
        except OAuth2Error as e:
            return _invalid(e)
        # Refused: Authlib redirects with error=access_denied (RFC 6749 4.1.2.1).
        return self.server.create_authorization_response(
            req, grant_user=user if approve else None, grant=grant
        )


def make_app(oauth: Any) -> Any:
    """The Starlette app of ``oauth``, a :class:`~smtplab.lab.oauth.LabOAuth`."""
    from starlette.applications import Starlette
    from starlette.routing import Route

    r = _Routes(oauth)
    post = ["POST"]
    return Starlette(
        routes=[
            Route("/", r.home),
            Route("/.well-known/oauth-authorization-server", r.metadata),
            Route("/device_authorization", r.endpoint("device_authorization"), methods=post),
            Route("/token", r.endpoint("token"), methods=post),
            Route("/introspect", r.endpoint("introspection"), methods=post),
            Route("/revoke", r.endpoint("revocation"), methods=post),
            Route("/device", r.device, methods=["GET", "POST"]),
            Route("/authorize", r.authorize, methods=["GET", "POST"]),
        ]
    )


# ---------------------------------------------------------------------------- pages
_STYLE: Final = "body{font-family:sans-serif;max-width:36em;margin:2em auto}label{display:block}"


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(title)}"
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
        "</body></html>"
    )


def _device_form(user_code: str, error: str) -> str:
    err = f"<p role=alert><strong>{html.escape(error)}</strong></p>" if error else ""
    return _page(
        "Lab sign-in: approve a device",
        f"{err}<p>A program asked to send mail as the lab user. Type the code it showed you and "
        "the lab password (lab.credentials) to let it.</p>"
        '<form method=post action="/device">'
        f'<label>Code <input name=user_code value="{html.escape(user_code)}" '
        "autocomplete=off></label>"
        "<label>Lab password <input name=password type=password></label>"
        "<button name=action value=approve>Approve</button> "
        "<button name=action value=deny>Refuse</button></form>",
    )


def _consent_form(fields: Mapping[str, str], error: str) -> str:
    err = f"<p role=alert><strong>{html.escape(error)}</strong></p>" if error else ""
    keep = (
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    )
    hidden = "".join(
        f'<input type=hidden name={k} value="{html.escape(fields[k])}">'
        for k in keep
        if k in fields
    )
    return _page(
        "Lab sign-in",
        f"{err}<p>{html.escape(fields.get('client_id', ''))} asks to send mail as the lab user "
        f"(scope {html.escape(fields.get('scope', ''))}).</p>"
        f'<form method=post action="/authorize">{hidden}'
        "<label>Lab password <input name=password type=password></label>"
        "<button name=action value=approve>Allow</button> "
        "<button name=action value=deny>Refuse</button></form>",
    )
