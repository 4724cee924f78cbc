"""A per-host checklist from probe records: each check passed or failed, in one line.

Like the checklist of a web SMTP tester, but computed only from what the probes recorded, by one
pure function (no I/O), so the command line, a notebook and a test all get the same answer::

    >>> from smtplab.checklist import checklist
    >>> for check in checklist(results):          # ProbeResults or record dicts
    ...     print(check.host, "PASS" if check.passed else "FAIL", check.label, check.detail)

A check appears only when the records can answer it (no certificate check for a host where no TLS
session was set up). Sources of the rules:

* a greeting ``220`` means the service is ready (RFC 5321 §4.2, §3.1), and names the server
  (RFC 5321 §4.2): a greeting naming another site, with no certificate proving the server, is
  something on the way answering in its place (:func:`smtplab.advice.evidence.intercepted`), so
  an intercepted port passes none of the greeting and AUTH checks;
* submission on 587 offers STARTTLS (RFC 3207; RFC 8314 §3.3), 2525 is the common alternative
  submission port and is held to the same rule; 465 speaks TLS from the first byte (RFC 8314 §3.3);
* AUTH is offered only once the session is encrypted (RFC 4954 §4, RFC 8314 §3.3);
* the certificate verifies for the host name dialled (RFC 6125, RFC 7817);
* TLS 1.2 or newer (RFC 8996 deprecates TLS 1.0 and 1.1);
* relaying to a foreign domain is refused when the relay check ran (RFC 5321 §3.6.1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smtplab.advice import evidence
from smtplab.rules import AUTH_TLS_VERSIONS, SUBMISSION_PORTS, TLS_PORTS

__all__ = ["Check", "checklist"]

_SUBMISSION_STARTTLS = SUBMISSION_PORTS
_SUBMISSION = TLS_PORTS
_GOOD_TLS = AUTH_TLS_VERSIONS  # the one TLS floor, see smtplab.rules
_SPOKE = ("open", "rejected")


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    vantage: str
    host: str
    #: A stable name for tests and translations, e.g. ``greeting_220``.
    code: str
    label: str
    passed: bool
    #: Which ports, and what was seen: ``"587, 2525"`` or ``"25: 554 greeting"``.
    detail: str


def _get(r: Any, name: str) -> Any:
    value = r.get(name) if isinstance(r, Mapping) else getattr(r, name, None)
    if isinstance(value, float) and value != value:  # NaN from a DataFrame
        return None
    return value


def _record(r: Any) -> Mapping[str, Any]:
    """A record dict of a ProbeResult, a record dict or a DataFrame row (NaN as None)."""
    if isinstance(r, Mapping):
        return {k: _get(r, k) for k in r}
    if hasattr(r, "to_record"):
        return dict(r.to_record())
    return {k: _get(r, k) for k in getattr(r, "index", ())}


def _ports(items: Iterable[int]) -> str:
    return ", ".join(str(p) for p in sorted(items))


#: How a port's TLS mode reads in a check's detail (the record keeps the codes).
_TLS_MODE_WORDS = {
    "starttls": "plain SMTP with STARTTLS, not TLS from the first byte",
    "none": "no TLS",
}


def _verdict(
    out: list[Check],
    key: tuple[str, str],
    code: str,
    label: str,
    good: list[int],
    bad: list[str],
) -> None:
    """Add one check: failed with every bad port named, passed with the good ports, or nothing
    when no record could answer it."""
    if good or bad:
        detail = "; ".join(bad) if bad else _ports(good)
        out.append(Check(key[0], key[1], code, label, not bad, detail))


def _host_checks(key: tuple[str, str], by_port: dict[int, Any]) -> list[Check]:
    out: list[Check] = []
    spoke = {p: r for p, r in by_port.items() if _get(r, "outcome") in _SPOKE}

    # ports where something on the way answered in the server's place: port -> the name it gave
    caught = {
        p: str(evidence.answered_by(rec))
        for p, r in spoke.items()
        if evidence.intercepted(rec := _record(r))
    }

    good: list[int] = []
    bad: list[str] = []
    for p, r in spoke.items():
        code = _get(r, "banner_code")
        if p in caught:
            bad.append(f"{p}: intercepted, {caught[p]} greeted")
        elif code == 220:
            good.append(p)
        else:
            bad.append(f"{p}: greeting {code}" if code else f"{p}: no greeting")
    _verdict(out, key, "greeting_220", "greets with 220 (ready)", good, bad)

    good, bad = [], []
    for p, r in spoke.items():
        if p in caught:
            bad.append(f"{p}: names {caught[p]}")
        elif evidence.answered_by(_record(r)) is not None:
            good.append(p)
    _verdict(out, key, "greeting_names_host", "greeting names the host you asked for", good, bad)

    tried = [p for p in _SUBMISSION if p in by_port]
    if tried:
        open_ports = [p for p in tried if _get(by_port[p], "outcome") == "open"]
        out.append(
            Check(
                key[0],
                key[1],
                "submission_reachable",
                "a submission port answers (465, 587 or 2525)",
                bool(open_ports),
                _ports(open_ports) if open_ports else f"none of {_ports(tried)} ended open",
            )
        )

    good, bad = [], []  # ports that pass; "port: why" for those that fail
    for p in _SUBMISSION_STARTTLS:
        r = spoke.get(p)
        if r is None or _get(r, "outcome") != "open" or _get(r, "tls_mode") == "implicit":
            continue
        if _get(r, "starttls_offered"):
            good.append(p)
        else:
            bad.append(f"{p}: not offered")
    _verdict(out, key, "starttls_offered", "offers STARTTLS on 587/2525", good, bad)

    r465 = spoke.get(465)
    if r465 is not None and _get(r465, "outcome") == "open":
        implicit = _get(r465, "tls_mode") == "implicit"
        out.append(
            Check(
                key[0],
                key[1],
                "implicit_tls_465",
                "speaks TLS from the first byte on 465",
                implicit,
                "465"
                if implicit
                else f"465: {_TLS_MODE_WORDS.get(_get(r465, 'tls_mode'), 'no TLS')}",
            )
        )

    good, bad = [], []  # ports that pass; "port: why" for those that fail
    for p, r in spoke.items():
        before = _get(r, "auth_before_tls")
        after = _get(r, "auth_after_tls")
        if p in caught:  # the interceptor's AUTH list says nothing about the server's
            bad.append(f"{p}: intercepted, the server's AUTH unseen")
        elif before is not None and len(before):
            bad.append(f"{p}: {' '.join(before)} in cleartext")
        elif before is not None or after is not None:
            good.append(p)
    _verdict(out, key, "auth_after_tls_only", "offers AUTH only after TLS", good, bad)

    good, bad = [], []  # ports that pass; "port: why" for those that fail
    for p, r in by_port.items():
        verified = _get(r, "cert_verified")
        if verified is True:
            good.append(p)
        elif verified is False:
            bad.append(f"{p}: {_get(r, 'cert_error') or 'not verified'}")
    _verdict(out, key, "cert_valid", "certificate valid for the name", good, bad)

    good, bad = [], []  # ports that pass; "port: why" for those that fail
    for p, r in by_port.items():
        version = _get(r, "tls_version")
        if version in _GOOD_TLS:
            good.append(p)
        elif version:
            bad.append(f"{p}: {version}")
    _verdict(out, key, "tls_1_2", "TLS 1.2 or newer", good, bad)

    good, bad = [], []  # ports that pass; "port: why" for those that fail
    for p, r in by_port.items():
        relay = _get(r, "relay_check")
        if relay == "denied":
            good.append(p)
        elif relay == "accepted":
            bad.append(f"{p}: relays to a foreign domain")
    _verdict(out, key, "no_open_relay", "refuses to relay for strangers", good, bad)
    return out


def checklist(records: Iterable[Any]) -> list[Check]:
    """The checks for each (vantage, host) in ``records``, in the order hosts first appear.

    ``records``: :class:`~smtplab.ProbeResult` objects or record dicts. When a port was probed
    more than once from one vantage, its last record counts.
    """
    hosts: dict[tuple[str, str], dict[int, Any]] = {}
    for r in records:
        key = (str(_get(r, "vantage") or ""), str(_get(r, "host") or ""))
        port = _get(r, "port")
        if port is None:
            continue
        hosts.setdefault(key, {})[int(port)] = r
    out: list[Check] = []
    for key, by_port in hosts.items():
        out.extend(_host_checks(key, by_port))
    return out
