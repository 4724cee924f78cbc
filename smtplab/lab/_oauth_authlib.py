"""Authlib's OAuth 2.0 server classes, filled in for the lab: in-memory clients, codes, device
codes and tokens, and requests made from raw HTTP parts (no web framework integration needed).

Private to :mod:`smtplab.lab.oauth`, whose :class:`~smtplab.lab.oauth.LabOAuth` owns the store
(``oauth._store``) and the clients (``oauth._clients``) these classes read and write.
"""

from __future__ import annotations

import hmac
import threading
import time
import urllib.parse
from collections.abc import Mapping
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
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import (
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)

from smtplab.lab.logins import SMTP_SCOPE

#: A scope the lab also issues, so that a learner can see a token for the wrong thing refused.
OTHER_SCOPE: Final = "profile"
SCOPES: Final = (SMTP_SCOPE, OTHER_SCOPE)

#: The public client a notebook or mail program uses (no secret: RFC 8252 native app).
NOTEBOOK_CLIENT: Final = "smtplab-notebook"
#: The confidential client a mail server uses to introspect tokens (RFC 7662 section 2.1 asks
#: the protected resource to authenticate).
MAIL_SERVER_CLIENT: Final = "lab-mail-server"

#: Seconds a device code or authorization code waits to be used (RFC 8628 3.2 leaves it to the
#: server; Authlib's default is 1800 s). Ten minutes covers reading the instructions.
CODE_LIFETIME: Final = 600
#: Seconds between token polls of the device flow. RFC 8628 3.5 says 5 s when the server gives
#: none; on loopback one second keeps a notebook cell quick and still teaches ``slow_down``.
POLL_INTERVAL: Final = 1


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
    def __init__(self, oauth: Any) -> None:
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
        oauth = self.server.oauth
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
        oauth = self.server.oauth
        with oauth._store.lock:
            item = oauth._store.codes.get(code)
        if item and item.client_id == client.get_client_id() and item.expires_at > time.time():
            return item
        return None

    def delete_authorization_code(self, authorization_code: _Code) -> None:
        oauth = self.server.oauth
        with oauth._store.lock:
            oauth._store.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: _Code) -> _User:
        return _User(authorization_code.user)


class _DeviceGrant(DeviceCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]

    def query_device_credential(self, device_code: str) -> DeviceCredentialDict | None:
        oauth = self.server.oauth
        with oauth._store.lock:
            return oauth._store.devices.get(device_code)

    def query_user_grant(self, user_code: str) -> tuple[_User, bool] | None:
        oauth = self.server.oauth
        with oauth._store.lock:
            return oauth._store.grants.get(user_code)

    def should_slow_down(self, credential: DeviceCredentialDict) -> bool:
        oauth = self.server.oauth
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
        oauth = self.server.oauth
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
        oauth = self.server.oauth
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
        oauth = self.server.oauth
        with oauth._store.lock:
            return oauth._store.tokens.get(token_string)

    def revoke_token(self, token: _Token, request: Any) -> None:
        oauth = self.server.oauth
        with oauth._store.lock:
            token.revoked = True
