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
import secrets
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Final

from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE

from smtplab.lab._oauth_authlib import (
    CODE_LIFETIME,
    MAIL_SERVER_CLIENT,
    NOTEBOOK_CLIENT,
    POLL_INTERVAL,
    SCOPES,
    _Client,
    _CodeGrant,
    _DeviceEndpoint,
    _DeviceGrant,
    _Introspection,
    _Revocation,
    _Server,
    _Store,
    _User,
)
from smtplab.lab._oauth_http import make_app
from smtplab.lab.logins import SMTP_SCOPE

__all__ = [
    "CODE_LIFETIME",
    "DEFAULT_TOKEN_LIFETIME",
    "MAIL_SERVER_CLIENT",
    "NOTEBOOK_CLIENT",
    "POLL_INTERVAL",
    "SMTP_SCOPE",
    "LabOAuth",
    "TokenCheck",
    "oauthbearer_string",
    "xoauth2_string",
]

#: Seconds a token lives. Google's and Microsoft's access tokens last an hour; ten minutes is
#: long enough for a lesson and short enough that a learner sees one expire.
DEFAULT_TOKEN_LIFETIME: Final = 600


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
    runs; it applies to tokens issued from then on. So may ``token_length``: the lab's tokens are
    short, while Microsoft's are JWTs of one to two and a half thousand characters, far past
    SMTP's 512-octet command line (RFC 4954 §4 says how a client sends them).
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
        self.token_length = 0  # 0: the usual short token; else tokens this many characters long
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
                access_token_generator=lambda **_: self._new_token(),
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
    def _new_token(self) -> str:
        token = "lab-" + secrets.token_urlsafe(32)
        while len(token) < self.token_length:
            token += secrets.token_urlsafe(48)
        return token[: max(self.token_length, len("lab-") + 43)]

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
            make_app(self),
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


def basic_auth(client_id: str, secret: str) -> str:
    """An HTTP Basic ``Authorization`` value (RFC 6749 2.3.1: each part form-encoded first)."""
    pair = f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}"
    return "Basic " + base64.b64encode(pair.encode()).decode()
