"""The lab's OAuth 2.0 authorization server: real tokens for the lab's OAuth-only mail servers.

Built on Authlib's server classes (its grants and endpoints; this module only stores things in
memory and speaks HTTP through Starlette on uvicorn, on a loopback socket bound before it starts).
It issues bearer tokens two ways:

* the **device-authorization grant** (RFC 8628): a program asks for a code, the learner approves
  it -- in a browser at ``/device``, or in Python with :meth:`LabOAuth.approve` -- and the program
  polls the token endpoint until the token comes;
* the **authorization-code grant with PKCE** (RFC 7636): a browser is sent to ``/authorize``,
  the learner signs in with the lab password, and the code comes back to a loopback redirect URI
  (RFC 8252 section 7.3), to be exchanged with its ``code_verifier``.

Tokens are short-lived (:data:`DEFAULT_TOKEN_LIFETIME`), bound to the lab user, and scoped:
:data:`SMTP_SCOPE` is what the lab's mail servers ask for. A token is refused once expired or
revoked (RFC 7009, ``/revoke``). Mail servers check a token with :meth:`LabOAuth.check` (in the same
process) or the introspection endpoint (RFC 7662, ``/introspect``, as Dovecot's ``oauth2`` passdb
does), and find every endpoint in the metadata document (RFC 8414,
``/.well-known/oauth-authorization-server``).

Nothing here is a real identity provider: one user, two clients, everything in memory, gone when
the lab stops.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import html
import secrets
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    OAuth2Payload,
    OAuth2Request,
    TokenMixin,
)
from authlib.oauth2.rfc6749 import grants as rfc6749_grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)

from smtplab.lab.logins import SMTP_SCOPE

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MAIL_SERVER_CLIENT",
    "NOTEBOOK_CLIENT",
    "SMTP_SCOPE",
    "LabOAuth",
    "TokenCheck",
    "oauthbearer_string",
    "xoauth2_string",
]

#: A scope the lab also issues, so that a learner can see a token for the wrong thing refused.
OTHER_SCOPE: Final = "profile"
SCOPES: Final = (SMTP_SCOPE, OTHER_SCOPE)

#: The public client a notebook or mail program uses (no secret: RFC 8252 native app).
NOTEBOOK_CLIENT: Final = "smtplab-notebook"
#: The confidential client a mail server uses to introspect tokens (RFC 7662 section 2.1 asks
#: the protected resource to authenticate).
MAIL_SERVER_CLIENT: Final = "lab-mail-server"

#: Seconds a token lives. Google's and Microsoft's access tokens last an hour; ten minutes is
#: long enough for a lesson and short enough that a learner sees one expire.
DEFAULT_TOKEN_LIFETIME: Final = 600
#: Seconds a device code or authorization code waits to be used (RFC 8628 3.2 leaves it to the
#: server; Authlib's default is 1800 s). Ten minutes covers reading the instructions.
CODE_LIFETIME: Final = 600
#: Seconds between token polls of the device flow. RFC 8628 3.5 says 5 s when the server gives
#: none; on loopback one second keeps a notebook cell quick and still teaches ``slow_down``.
POLL_INTERVAL: Final = 1


# ---------------------------------------------------------------------------- SASL strings
def xoauth2_string(user: str, token: str) -> str:
    """The XOAUTH2 initial client response (before base64), as Google defines it:
    ``user={User}^Aauth=Bearer {Access Token}^A^A`` (^A is \\x01;
    https://developers.google.com/workspace/gmail/imap/xoauth2-protocol)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer_string(user: str, token: str) -> str:
    """The OAUTHBEARER initial client response of RFC 7628 section 3.1: a GS2 header naming the
    user (``n,a=user,``), then ``\\x01auth=Bearer TOKEN\\x01\\x01``. A ``,`` or ``=`` in the user
    name is escaped as ``=2C`` / ``=3D`` (RFC 5801 section 4)."""
    saslname = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={saslname},\x01auth=Bearer {token}\x01\x01"


# ---------------------------------------------------------------------------- data
@dataclass(frozen=True)
class TokenCheck:
    """What a mail server learns when it checks a token (see :meth:`LabOAuth.check`)."""

    ok: bool
    #: "ok", "unknown", "expired", "revoked", "wrong-user" or "wrong-scope".
    reason: str
    #: The user the token was issued to, if the token is known.
    user: str | None = None
    #: The scope the token carries, if known.
    scope: str | None = None


@dataclass
class _Token(TokenMixin):
    access_token: str
    client_id: str
    user: str
    scope: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Any) -> bool:
        return bool(client.get_client_id() == self.client_id)

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> Any:  # pragma: no cover - Authlib asks only in grants we do not use
        return None


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True)
class _User:
    name: str

    def get_user_id(self) -> str:
        return self.name


def _is_loopback_redirect(uri: str) -> bool:
    """RFC 8252 section 7.3: a native app's loopback redirect URI, any port, http."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1", "localhost")


@dataclass
class _Client(ClientMixin):
    client_id: str
    secret: str | None
    grant_types: tuple[str, ...]
    auth_methods: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # every authorization request must name its loopback redirect URI

    def get_allowed_scope(self, scope: str | None) -> str:
        wanted = (scope or "").split()
        return " ".join(s for s in wanted if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return _is_loopback_redirect(redirect_uri)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and hmac.compare_digest(
            client_secret.encode(), self.secret.encode()
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in self.auth_methods

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class _Store:
    """Everything the server remembers, behind one lock: the HTTP thread writes, the lab's SMTP
    thread and the learner's thread read."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[str, _Token] = {}
        self.codes: dict[str, _Code] = {}
        self.devices: dict[str, DeviceCredentialDict] = {}  # by device_code
        self.grants: dict[str, tuple[_User, bool]] = {}  # by user_code
        self.polled: dict[str, float] = {}  # device_code -> last poll (monotonic)


# ---------------------------------------------------------------------------- Authlib glue
class _Payload(OAuth2Payload):
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._data: dict[str, str] = {}
        self._datalist: dict[str, list[str]] = {}
        for k, v in pairs:
            self._data.setdefault(k, v)
            self._datalist.setdefault(k, []).append(v)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> Any:
        return self._datalist


class _Request(OAuth2Request):
    """An HTTP request as Authlib wants it: method, URL, headers, query and form."""

    def __init__(
        self, method: str, uri: str, headers: Mapping[str, str], query: str, body: bytes
    ) -> None:
        super().__init__(method, uri, headers=headers)
        args = urllib.parse.parse_qsl(query, keep_blank_values=True)
        form = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        self._args = dict(args)
        self._form = dict(form)
        self.payload = _Payload(args + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, oauth: LabOAuth) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.oauth = oauth

    def query_client(self, client_id: str) -> _Client | None:
        return self.oauth._clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        user = request.user.name if isinstance(request.user, _User) else str(request.user)
        store = self.oauth._store
        with store.lock:
            store.tokens[token["access_token"]] = _Token(
                access_token=token["access_token"],
                client_id=request.client.get_client_id(),
                user=user,
                scope=token.get("scope", ""),
                issued_at=time.time(),
                expires_in=int(token["expires_in"]),
            )
            credential = request.credential
            if isinstance(credential, DeviceCredentialDict):  # a device code is used once
                store.devices.pop(credential["device_code"], None)
                store.grants.pop(credential["user_code"], None)

    def create_oauth2_request(self, request: Any) -> Any:
        return request  # already an _Request

    def create_json_request(self, request: Any) -> Any:  # pragma: no cover - no JSON endpoints
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: Any) -> Any:
        from starlette.responses import JSONResponse, Response

        hdrs = dict(headers or [])
        if isinstance(body, dict):
            hdrs.pop("Content-Type", None)
            return JSONResponse(body, status_code=status, headers=hdrs)
        return Response(body or b"", status_code=status, headers=hdrs)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass


class _CodeGrant(rfc6749_grants.AuthorizationCodeGrant):  # type: ignore[misc]
    #: A public client: PKCE instead of a secret.
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        data = request.payload.data
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            oauth._store.codes[code] = _Code(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=data.get("redirect_uri", ""),
                scope=request.scope or "",
                user=request.user.name,
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
                expires_at=time.time() + CODE_LIFETIME,
            )

    def query_authorization_code(self, code: str, client: Any) -> _Code | None:
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            item = oauth._store.codes.get(code)
        if item and item.client_id == client.get_client_id() and item.expires_at > time.time():
            return item
        return None

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            oauth._store.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _Code) -> _User:
        return _User(authorization_code.user)


class _DeviceGrant(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def query_device_credential(self, device_code: str) -> DeviceCredentialDict | None:
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            return oauth._store.devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[_User, bool] | None:
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            return oauth._store.grants.get(user_code)

    def should_slow_down(self, credential: DeviceCredentialDict) -> bool:
        oauth: LabOAuth = self.server.oauth
        now = time.monotonic()
        with oauth._store.lock:
            last = oauth._store.polled.get(credential["device_code"])
            oauth._store.polled[credential["device_code"]] = now
        return last is not None and now - last < POLL_INTERVAL * 0.9


class _DeviceEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    EXPIRES_IN = CODE_LIFETIME
    INTERVAL = POLL_INTERVAL
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def get_verification_uri(self) -> str:
        return f"{self.server.oauth.url}/device"

    def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]) -> None:
        oauth: LabOAuth = self.server.oauth
        credential = DeviceCredentialDict(
            client_id=client_id,
            scope=scope or "",
            user_code=data["user_code"],
            device_code=data["device_code"],
            expires_at=time.time() + data["expires_in"],
        )
        with oauth._store.lock:
            oauth._store.devices[data["device_code"]] = credential


class _Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            return oauth._store.tokens.get(token_string)

    def check_permission(self, token: _Token, client: Any, request: Any) -> bool:
        """Only the mail server may introspect, and only tokens meant for it: RFC 7662 section
        2.2 answers ``{"active": false}`` when "the protected resource is not allowed to
        introspect this particular token". So a mail server that checks no scope itself --
        Dovecot 2.3's oauth2 passdb has no setting for it -- still refuses a token issued for
        another scope."""
        if client.get_client_id() != MAIL_SERVER_CLIENT:
            return False
        return SMTP_SCOPE in token.scope.split()

    def introspect_token(self, token: _Token) -> dict[str, Any]:
        return {
            "active": True,
            "client_id": token.client_id,
            "token_type": "Bearer",
            "username": token.user,
            "sub": token.user,
            "scope": token.scope,
            "iat": int(token.issued_at),
            "exp": int(token.issued_at + token.expires_in),
            "iss": self.server.oauth.issuer,
        }


class _Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none", "client_secret_basic"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> _Token | None:
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            return oauth._store.tokens.get(token_string)

    def revoke_token(self, token: _Token, request: Any) -> None:
        oauth: LabOAuth = self.server.oauth
        with oauth._store.lock:
            token.revoked = True


# ---------------------------------------------------------------------------- the server
class LabOAuth:
    """The lab's OAuth 2.0 authorization server, on a loopback HTTP socket of its own.

    A running :class:`~smtplab.lab.Lab` whose scenario has an OAuth-taking host starts one; reach
    it as ``lab.oauth``::

        meta = json.load(urllib.request.urlopen(lab.oauth.metadata_url))
        # POST meta["device_authorization_endpoint"]: client_id=smtplab-notebook&scope=...
        lab.oauth.approve(user_code)          # what the learner would do in a browser
        # POST meta["token_endpoint"]: grant_type=...device_code&device_code=...&client_id=...
        client.auth("XOAUTH2", lambda challenge=None: "" if challenge else
                    xoauth2_string("student", token))

    ``user`` and ``password`` are the lab account (the same as ``lab.credentials``): the password
    signs in on the server's own HTML pages. ``token_lifetime`` (seconds) may be changed while it
    runs; it applies to tokens issued from then on.
    """

    def __init__(
        self,
        user: str,
        password: str,
        *,
        bind: str = "127.0.0.1",
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
    ) -> None:
        self.user = user
        self._password = password
        self.token_lifetime = token_lifetime
        self._store = _Store()
        self._mail_server_secret = secrets.token_urlsafe(24)
        self._clients: dict[str, _Client] = {
            NOTEBOOK_CLIENT: _Client(
                NOTEBOOK_CLIENT,
                None,
                ("authorization_code", DEVICE_CODE_GRANT_TYPE),
                ("none",),
            ),
            MAIL_SERVER_CLIENT: _Client(
                MAIL_SERVER_CLIENT,
                self._mail_server_secret,
                (),
                ("client_secret_basic", "client_secret_post"),
            ),
        }
        family = socket.AF_INET6 if ":" in bind else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.bind((bind, 0))
        self._sock.listen(64)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._server = _Server(self)
        self._server.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "lab-" + secrets.token_urlsafe(32),
                expires_generator=lambda client, grant_type: self.token_lifetime,
            ),
        )
        self._server.register_grant(_CodeGrant, [CodeChallenge(required=True)])
        self._server.register_grant(_DeviceGrant)
        self._server.register_endpoint(_DeviceEndpoint)
        self._server.register_endpoint(_Introspection)
        self._server.register_endpoint(_Revocation)
        self._uvicorn: Any = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ facts
    @property
    def url(self) -> str:
        """The server's base URL, e.g. ``http://127.0.0.1:40123``."""
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def issuer(self) -> str:
        return self.url

    @property
    def metadata_url(self) -> str:
        """Where the RFC 8414 metadata document is."""
        return f"{self.url}/.well-known/oauth-authorization-server"

    @property
    def client_id(self) -> str:
        """The public client id a notebook or mail program uses."""
        return NOTEBOOK_CLIENT

    @property
    def scope(self) -> str:
        """The scope the lab's mail servers require."""
        return SMTP_SCOPE

    @property
    def mail_server_credentials(self) -> tuple[str, str]:
        """(client_id, client_secret) with which a mail server may call ``/introspect``."""
        return MAIL_SERVER_CLIENT, self._mail_server_secret

    @property
    def introspection_url(self) -> str:
        return f"{self.url}/introspect"

    def metadata(self) -> dict[str, Any]:
        """The RFC 8414 authorization server metadata."""
        u = self.url
        return {
            "issuer": u,
            "authorization_endpoint": f"{u}/authorize",
            "token_endpoint": f"{u}/token",
            "device_authorization_endpoint": f"{u}/device_authorization",
            "introspection_endpoint": f"{u}/introspect",
            "revocation_endpoint": f"{u}/revoke",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", DEVICE_CODE_GRANT_TYPE],
            "code_challenge_methods_supported": ["S256", "plain"],
            "token_endpoint_auth_methods_supported": ["none"],
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "revocation_endpoint_auth_methods_supported": ["none", "client_secret_basic"],
        }

    # ------------------------------------------------------------ the learner's side
    def approve(self, user_code: str) -> bool:
        """Approve a device flow's ``user_code`` as the lab user, as if signed in at ``/device``.
        Returns False when no pending device flow has that code (mistyped, used or expired)."""
        return self._decide(user_code, True)

    def deny(self, user_code: str) -> bool:
        """Refuse a device flow's ``user_code``: the program's next poll gets ``access_denied``."""
        return self._decide(user_code, False)

    def _decide(self, user_code: str, approved: bool) -> bool:
        code = user_code.strip().upper()
        with self._store.lock:
            pending = any(
                d["user_code"] == code and not d.is_expired() for d in self._store.devices.values()
            )
            if pending:
                self._store.grants[code] = (_User(self.user), approved)
        return pending

    def revoke(self, token: str) -> bool:
        """Revoke ``token`` (as ``/revoke`` does). Returns False for a token never issued."""
        with self._store.lock:
            t = self._store.tokens.get(token)
            if t is not None:
                t.revoked = True
        return t is not None

    # ------------------------------------------------------------ the mail server's side
    def check(self, token: str, user: str, scope: str = SMTP_SCOPE) -> TokenCheck:
        """May ``user`` log in with ``token`` for ``scope``? What a resource server decides after
        introspection: the token must be known, unexpired, unrevoked, issued to ``user``
        (compared without case) and carry ``scope``."""
        with self._store.lock:
            t = self._store.tokens.get(token)
            if t is None:
                return TokenCheck(False, "unknown")
            found = {"user": t.user, "scope": t.scope}
            if t.revoked:
                return TokenCheck(False, "revoked", **found)
            if t.is_expired():
                return TokenCheck(False, "expired", **found)
        if t.user.lower() != user.strip().lower():
            return TokenCheck(False, "wrong-user", **found)
        if scope not in t.scope.split():
            return TokenCheck(False, "wrong-scope", **found)
        return TokenCheck(True, "ok", **found)

    # ------------------------------------------------------------ HTTP
    def _app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
        from starlette.routing import Route

        server = self._server

        async def oauth_request(request: Any) -> _Request:
            body = await request.body() if request.method == "POST" else b""
            return _Request(
                request.method, str(request.url), request.headers, request.url.query, body
            )

        def endpoint(name: str) -> Callable[[Any], Any]:
            async def handle(request: Any) -> Response:
                req = await oauth_request(request)
                if name == "token":
                    result: Response = server.create_token_response(req)
                else:
                    result = server.create_endpoint_response(name, req)
                return result

            return handle

        async def metadata(request: Any) -> Response:
            return JSONResponse(self.metadata())

        async def device_page(request: Any) -> Response:
            req = await oauth_request(request)
            if request.method == "GET":
                return HTMLResponse(_device_form(req.args.get("user_code", ""), ""))
            code = req.form.get("user_code", "")
            if not self._password_ok(req.form.get("password", "")):
                return HTMLResponse(_device_form(code, "Wrong password."), status_code=401)
            approved = req.form.get("action") == "approve"
            if not self._decide(code, approved):
                return HTMLResponse(
                    _device_form(code, "No waiting sign-in has that code."), status_code=404
                )
            word = "approved" if approved else "refused"
            return HTMLResponse(_page("Done", f"<p>Sign-in {word}. Go back to your program.</p>"))

        async def authorize(request: Any) -> Response:
            req = await oauth_request(request)
            if request.method == "GET":
                try:
                    server.get_consent_grant(req, end_user=None)
                except Exception as e:  # an invalid request: say so, never redirect
                    text = getattr(e, "description", None) or type(e).__name__
                    return HTMLResponse(
                        _page("Invalid request", f"<p>{html.escape(str(text))}</p>"),
                        status_code=400,
                    )
                return HTMLResponse(_consent_form(req.args, ""))
            fields = {**req.args, **req.form}
            user = _User(self.user)
            approve = fields.get("action") == "approve"
            if approve and not self._password_ok(fields.get("password", "")):
                return HTMLResponse(_consent_form(fields, "Wrong password."), status_code=401)
            try:
                grant = server.get_consent_grant(req, end_user=user)
            except Exception as e:  # invalid request: say so, never redirect
                text = getattr(e, "description", None) or type(e).__name__
                return HTMLResponse(
                    _page("Invalid request", f"<p>{html.escape(str(text))}</p>"), status_code=400
                )
            # Refused: Authlib redirects with error=access_denied (RFC 6749 4.1.2.1).
            result: Response = server.create_authorization_response(
                req, grant_user=user if approve else None, grant=grant
            )
            return result

        async def home(request: Any) -> Response:
            return RedirectResponse("/device")

        routes = [
            Route("/", home),
            Route("/.well-known/oauth-authorization-server", metadata),
            Route("/device_authorization", endpoint("device_authorization"), methods=["POST"]),
            Route("/token", endpoint("token"), methods=["POST"]),
            Route("/introspect", endpoint("introspection"), methods=["POST"]),
            Route("/revoke", endpoint("revocation"), methods=["POST"]),
            Route("/device", device_page, methods=["GET", "POST"]),
            Route("/authorize", authorize, methods=["GET", "POST"]),
        ]
        return Starlette(routes=routes)

    def _password_ok(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self._password.encode())

    # ------------------------------------------------------------ life cycle
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> LabOAuth:
        """Serve on a background thread; returns once uvicorn accepts connections."""
        if self.running:
            return self
        import uvicorn

        config = uvicorn.Config(
            self._app(),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
        )
        self._uvicorn = uvicorn.Server(config)
        srv = self._uvicorn
        self._thread = threading.Thread(
            target=lambda: asyncio.run(srv.serve(sockets=[self._sock])),
            name="smtplab-lab-oauth",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not srv.started and self._thread.is_alive() and time.monotonic() < deadline:
            self._thread.join(0.02)
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        if self._uvicorn is not None:
            self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None
        with contextlib.suppress(OSError):
            self._sock.close()

    def __repr__(self) -> str:
        return f"<LabOAuth {self.url} {'running' if self.running else 'stopped'}>"


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


def basic_auth(client_id: str, secret: str) -> str:
    """An HTTP Basic ``Authorization`` value (RFC 6749 2.3.1: each part form-encoded first)."""
    pair = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()
