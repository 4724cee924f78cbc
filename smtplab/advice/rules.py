"""The advice rules, as a table: for each purpose and kind of port, whether it may be advised,
in which order, and why.

A port's *kind* comes from what the provider documents about it (see :func:`port_kind`):

==============  ===================================================================================
``implicit``    submission with implicit TLS (465, or a documented alternative such as 2465)
``starttls``    submission with STARTTLS (587, or a port documented as plain-or-TLS)
``alt``         an alternative submission port the provider documents (2525, 2587, ...)
``sub25``       authenticated submission on 25, where the provider documents it
``relay25``     port 25 as the relay port between servers (RFC 5321)
``undocumented`` anything else: never advised, whatever a probe found there
==============  ===================================================================================

``rank`` orders the ports (lower first); ``None`` means never advised for that purpose.
``last_resort`` ports may appear among the fallbacks, flagged, never as the recommendation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from smtplab.advice.facts import ProviderFacts

__all__ = ["KINDS", "PURPOSES", "RULES", "Rule", "port_kind", "rule_for"]

PURPOSES: Final = ("mail-client", "website-plugin", "mail-server")
KINDS: Final = ("implicit", "starttls", "alt", "sub25", "relay25", "undocumented")


@dataclass(frozen=True)
class Rule:
    purpose: str
    kind: str
    rank: int | None
    last_resort: bool
    #: True when a password crosses this port (so TLS must be verified first).
    auth: bool
    reason: str


_IMPLICIT = (
    "implicit TLS from the first byte, which RFC 8314 recommends for submission: nothing is "
    "said in cleartext, so nothing can be stripped"
)
_STARTTLS = (
    "message submission (RFC 6409) upgraded with STARTTLS before any login (password or token) "
    "is sent; fine wherever STARTTLS is not tampered with"
)
_ALT = "an alternative port your provider documents for networks that block the standard ones"
_SUB25 = (
    "your provider documents authenticated submission on 25, but 25 is the relay port: many "
    "networks block or intercept it, so use it only when nothing else gets out"
)
_RELAY_CLIENT = (
    "port 25 is for servers relaying mail to servers (RFC 5321), not for a program that logs in"
)
_UNDOCUMENTED = "your provider does not document this port for sending"

RULES: Final[tuple[Rule, ...]] = (
    Rule("mail-client", "implicit", 0, False, True, _IMPLICIT),
    Rule("mail-client", "starttls", 1, False, True, _STARTTLS),
    Rule("mail-client", "alt", 2, False, True, _ALT),
    Rule("mail-client", "sub25", 9, True, True, _SUB25),
    Rule("mail-client", "relay25", None, False, False, _RELAY_CLIENT),
    Rule("mail-client", "undocumented", None, False, True, _UNDOCUMENTED),
    # A website plugin is a mail client living on a web server: the same order, and web hosts
    # often block 25 outright, so 25 stays a flagged last resort.
    Rule("website-plugin", "implicit", 0, False, True, _IMPLICIT),
    Rule("website-plugin", "starttls", 1, False, True, _STARTTLS),
    Rule("website-plugin", "alt", 2, False, True, _ALT),
    Rule("website-plugin", "sub25", 9, True, True, _SUB25),
    Rule("website-plugin", "relay25", None, False, False, _RELAY_CLIENT),
    Rule("website-plugin", "undocumented", None, False, True, _UNDOCUMENTED),
    # A mail server delivers straight to other domains' MX on 25 (no password), or hands its
    # mail to a smarthost on a submission port (with a password, so verified TLS first).
    Rule(
        "mail-server",
        "relay25",
        0,
        False,
        False,
        "direct delivery to other domains' mail servers (their MX) happens on 25 (RFC 5321)",
    ),
    Rule("mail-server", "implicit", 1, False, True, "a smarthost over implicit TLS: " + _IMPLICIT),
    Rule("mail-server", "starttls", 2, False, True, "a smarthost with STARTTLS: " + _STARTTLS),
    Rule("mail-server", "alt", 3, False, True, "a smarthost on " + _ALT),
    Rule(
        "mail-server",
        "sub25",
        4,
        False,
        True,
        "a smarthost (a provider's sending server, not an MX) that documents 25, with a login "
        "or an IP allow-list; many networks block 25, so its other ports come first",
    ),
    Rule("mail-server", "undocumented", None, False, True, _UNDOCUMENTED),
)

_INDEX: Final = {(r.purpose, r.kind): r for r in RULES}


def rule_for(purpose: str, kind: str) -> Rule:
    return _INDEX[(purpose, kind)]


def port_kind(port: int, facts: ProviderFacts, purpose: str = "mail-client") -> str:
    """What ``port`` is, by what ``facts`` document (see the module's table).

    465 is always ``implicit`` (RFC 8314 registers it for implicit TLS, whatever a page says).
    On a provider's sending server (``facts.smarthost``), 25 is never direct delivery to an MX:
    undocumented there, a mail server must not use it (``undocumented``) and a program that logs
    in is told it is for relay (``relay25``); documented, a mail server uses it as a smarthost
    port (``sub25``, with a login or an allow-list), while a program that logs in keeps away
    from a 25 documented only for relay.
    """
    doc = facts.port(port)
    if port == 25 and facts.smarthost:
        if doc is None:
            return "undocumented" if purpose == "mail-server" else "relay25"
        if purpose == "mail-server":
            return "sub25"
        return "relay25" if doc.purpose == "relay" or doc.security == "none" else "sub25"
    if doc is None:
        return "relay25" if port == 25 else "undocumented"
    if port == 25:
        return "relay25" if doc.purpose == "relay" or doc.security == "none" else "sub25"
    if doc.purpose == "alt":
        return "alt"
    if port == 465 or doc.security == "implicit_tls":
        return "implicit"
    return "starttls"


def _check() -> None:
    for purpose in PURPOSES:
        for kind in KINDS:
            assert (purpose, kind) in _INDEX, (purpose, kind)
    for r in RULES:
        # never-bend rules, in the table itself
        assert not (r.kind == "undocumented" and r.rank is not None)
        assert not (
            r.purpose != "mail-server"
            and r.kind in ("sub25", "relay25")
            and not (r.rank is None or r.last_resort)
        )


_check()
