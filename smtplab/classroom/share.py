"""Sharing probe records with the class: what is sent, shown before it is sent, and the sending.

A record says where a learner probed from in two places besides its label: the EHLO name (by
default an address literal of the learner's own socket, ``EHLO [192.168.1.23]``) and any reply
that echoes the client's address (``250 mail.example Hello [203.0.113.9]``). :func:`scrub`
removes every address literal that is not the server's own, so what leaves the learner's machine
says which network (by the label the learner chose), never which address.
"""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from smtplab.errors import SmtplabError

__all__ = [
    "MAX_LABEL",
    "ShareError",
    "ShareReport",
    "check_label",
    "preview",
    "scrub",
    "send",
]

#: A vantage label: short enough for a table cell on a projector.
MAX_LABEL: Final = 60
#: What replaces an address that is not the server's.
REMOVED: Final = "address-removed"

_IPV4: Final = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])")
_IPV6: Final = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f]")


class ShareError(SmtplabError):
    """The records could not be shared: one line saying why (nothing is lost locally)."""


@dataclass(frozen=True)
class ShareReport:
    accepted: int
    refused: tuple[tuple[int, str], ...]
    total: int


def check_label(label: str) -> str:
    """A learner's vantage label, or :class:`ShareError` saying what is wrong with it."""
    text = label.strip()
    if not text:
        raise ShareError("the network label is empty: name where you are (home, phone, campus)")
    if len(text) > MAX_LABEL:
        raise ShareError(f"the network label is {len(text)} characters; at most {MAX_LABEL}")
    if _CONTROL.search(text):
        raise ShareError("the network label holds control characters")
    return text


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _scrub_text(text: str, keep: set[str]) -> str:
    def repl(m: re.Match[str]) -> str:
        found = m.group()
        return found if found in keep or not _is_ip(found) else REMOVED

    return _IPV6.sub(repl, _IPV4.sub(repl, text))


def scrub(rec: Mapping[str, Any]) -> dict[str, Any]:
    """``rec`` without the learner's addresses: every IPv4 or IPv6 literal in the transcript,
    greeting, findings and error that is not the server's own address (or the host dialled)
    becomes ``address-removed``."""
    keep = {str(rec.get("address") or ""), str(rec.get("host") or "")} - {""}
    out = dict(rec)
    for key in ("banner", "error", "cert_error"):
        if isinstance(out.get(key), str):
            out[key] = _scrub_text(out[key], keep)
    if isinstance(out.get("transcript"), list):
        out["transcript"] = [
            {**line, "text": _scrub_text(str(line.get("text", "")), keep)}
            if isinstance(line, Mapping)
            else line
            for line in out["transcript"]
        ]
    if isinstance(out.get("findings"), list):
        out["findings"] = [
            {**f, "message": _scrub_text(str(f.get("message", "")), keep)}
            if isinstance(f, Mapping)
            else f
            for f in out["findings"]
        ]
    return out


def preview(records: Sequence[Mapping[str, Any]], label: str, address: str) -> list[str]:
    """What will be sent, in lines a learner reads before saying yes."""
    ports: dict[str, list[str]] = {}
    for r in records:
        ports.setdefault(str(r.get("host")), []).append(f"{r.get('port')} {r.get('outcome')}")
    lines = [
        f"To share with the class at {address}: {len(records)} probe record(s), labelled {label!r}."
    ]
    for host, results in ports.items():
        lines.append(f"  {host}: {', '.join(results)}")
    lines.append(
        "Each record holds the host, port, outcome, timings, TLS and certificate facts, and the "
        "transcript (passwords were never recorded). Your addresses are removed; the label is "
        "all that says where you are."
    )
    return lines


def _post(
    url: str, body: dict[str, Any], timeout: float, cafile: str | None = None
) -> dict[str, Any]:
    import ssl

    data = json.dumps(body, ensure_ascii=False, default=str).encode()
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    context = ssl.create_default_context(cafile=cafile) if url.startswith("https:") else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as reply:
            return dict(json.loads(reply.read(1_000_000)))
    except urllib.error.HTTPError as exc:
        try:
            reason = json.loads(exc.read(10_000)).get("error", "")
        except (ValueError, AttributeError):
            reason = ""
        raise ShareError(f"the class collector said {exc.code}: {reason or exc.reason}") from None
    except (OSError, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise ShareError(f"could not reach the class collector at {url}: {why}") from None


def base_url(address: str) -> str:
    """``192.168.1.10:8025`` or a full ``http(s)://`` address -> the collector's base URL."""
    text = address.strip().rstrip("/")
    if not text:
        raise ShareError("--share needs the collector's address (the teacher's screen shows it)")
    if "://" not in text:
        text = f"http://{text}"
    if not text.startswith(("http://", "https://")):
        raise ShareError(f"--share {address}: use the http:// or https:// address the teacher gave")
    return text


def send(
    records: Iterable[Mapping[str, Any]],
    *,
    address: str,
    code: str,
    label: str,
    timeout: float = 10.0,
    cafile: str | None = None,
) -> ShareReport:
    """Join the class with ``code`` under ``label`` and send the scrubbed ``records``. Over
    ``https://`` the collector's certificate is verified (against ``cafile``, the class's CA
    the teacher hands out, else the system's CAs)."""
    url = base_url(address)
    label = check_label(label)
    joined = _post(f"{url}/api/join", {"code": code, "label": label}, timeout, cafile)
    token = str(joined.get("learner", ""))
    batch = [scrub(r) for r in records]
    reply = _post(f"{url}/api/records", {"learner": token, "records": batch}, timeout, cafile)
    refused = tuple((int(i), str(why)) for i, why in reply.get("refused", []))
    return ShareReport(int(reply.get("accepted", 0)), refused, len(batch))
