"""The SMTP protocol core, without I/O: bytes in, replies out; commands in, bytes out.

Nothing here opens a socket. The probe engine (:mod:`smtplab.probe`) is a thin driver that feeds
the bytes it receives into :class:`ReplyParser` and sends what :func:`build_command` returns; the
replay driver feeds a recorded transcript through the very same code. That is why it can be tested
exhaustively, byte by byte, without a network.

A real conversation, as this module sees it::

    S: 220 smtp.lab.example ESMTP ready            <- Reply(220, ["smtp.lab.example ESMTP ready"])
    C: EHLO [127.0.0.1]                            <- build_command("EHLO", "[127.0.0.1]")
    S: 250-smtp.lab.example
    S: 250-SIZE 10240000
    S: 250-STARTTLS
    S: 250 ENHANCEDSTATUSCODES                     <- one Reply, four lines
                                                 parse_ehlo() -> Capabilities(starttls=True, ...)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# --- limits, and where their numbers come from ------------------------------------------------

#: RFC 5321 §4.5.3.1.5 limits a reply line to 512 octets including CRLF. Real servers exceed it
#: (long EHLO keyword lists, banners with ads), so we accept eight times that before calling the
#: peer broken: enough for any honest server, small enough that a line that never ends costs us
#: at most 4 KiB of memory.
MAX_LINE: Final = 4096

#: A multi-line reply is one line per EHLO extension; large MTAs list about 15, and RFC 5321 puts
#: no number on it. 1,000 lines is far beyond any real server and bounds a hostile 200,000-line
#: reply at about 4 MB of parsing before we stop.
MAX_REPLY_LINES: Final = 1000

#: RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
MAX_COMMAND: Final = 512

#: RFC 4954 §4: the base64 lines of an AUTH exchange "can be much longer than normal SMTP
#: commands", and "12288 octets is considered to be a sufficient line length limit for handling
#: of deployed authentication mechanisms" (an OAuth token is often 1,000 to 2,500 characters).
#: The AUTH command itself stays within :data:`MAX_COMMAND`: "If use of the initial response
#: argument would cause the AUTH command to exceed this length, the client MUST NOT use the
#: initial response parameter", and sends it after the server's empty ``334`` challenge instead.
MAX_AUTH_LINE: Final = 12288

#: RFC 5321 §4.1.2 / §4.1.3: a domain is at most 255 octets.
MAX_DOMAIN: Final = 255

_REPLY_LINE = re.compile(rb"^([0-9]{3})([ -]|$)(.*)$", re.DOTALL)
_ENHANCED = re.compile(r"^([245])\.([0-9]{1,3})\.([0-9]{1,3})(?=\s|$)")


class ProtocolError(Exception):
    """The peer broke the SMTP reply syntax. In a probe this is data (a result), never raised."""


class CommandError(ValueError):
    """A command could not be built safely (our caller's mistake, so it is raised)."""


# --- replies ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One SMTP reply: a three-digit code and its text lines (continuations included)."""

    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        """All text lines joined with newlines."""
        return "\n".join(self.lines)

    @property
    def enhanced(self) -> str | None:
        """The RFC 3463 enhanced status code (``5.7.1``) at the start of the text, if any."""
        m = _ENHANCED.match(self.lines[0]) if self.lines else None
        return ".".join(m.groups()) if m else None

    @property
    def kind(self) -> str:
        """``positive`` (2xx), ``intermediate`` (3xx), ``transient`` (4xx), ``permanent`` (5xx)."""
        return {2: "positive", 3: "intermediate", 4: "transient", 5: "permanent"}.get(
            self.code // 100, "unknown"
        )

    def raw_lines(self) -> list[str]:
        """The reply as it appeared on the wire, one string per line (no CRLF)."""
        out = []
        for i, line in enumerate(self.lines):
            sep = " " if i == len(self.lines) - 1 else "-"
            out.append(f"{self.code}{sep}{line}" if line or sep == "-" else f"{self.code}")
        return out


def printable(data: bytes) -> str:
    """Bytes from the wire as readable text: UTF-8 where valid, escapes for the rest.

    Control characters (NUL, ESC, …) become ``\\x00`` style escapes so a hostile server cannot
    paint a learner's terminal or notebook.
    """
    text = data.decode("utf-8", errors="backslashreplace")
    return _UNSAFE_TEXT.sub(_escape_char, text)


#: What :func:`printable` escapes: C0 controls but tab, DEL, the C1 controls (U+009B is an 8-bit
#: terminal CSI) and the bidirectional overrides that make text display in another order than it
#: reads (the "Trojan Source" trick, CVE-2021-42574).
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class ReplyParser:
    """Frames SMTP replies from a byte stream.

    Feed bytes with :meth:`feed`; take complete replies with :meth:`next_reply`, which returns
    ``None`` when more bytes are needed and raises :class:`ProtocolError` when the peer is not
    speaking SMTP. Works the same whether bytes arrive whole or one at a time: a multi-line reply
    is one reply however the packets split it (the nmap 7.93 bug was reading only its first line).
    """

    def __init__(
        self,
        *,
        max_line: int = MAX_LINE,
        max_lines: int = MAX_REPLY_LINES,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self._buf = bytearray()
        self._pending: list[str] = []
        self._code: int | None = None
        self._max_line = max_line
        self._max_lines = max_lines
        self.broken: ProtocolError | None = None
        #: called with every complete line received, as readable text (for the transcript)
        self._on_line = on_line

    def feed(self, data: bytes) -> None:
        """Add received bytes."""
        if self.broken is None:
            self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a returned reply (a partial line or reply)."""
        return len(self._buf) + sum(len(x) for x in self._pending)

    def started_reply(self) -> bool:
        """True when the bytes held so far begin a reply that has not ended yet: lines of an
        unfinished multi-line reply, or a partial line that starts like one (``22``, ``220-``).
        A tarpit sends its greeting this way, a byte at a time."""
        if self._pending:
            return True
        head = bytes(self._buf[:4])
        return (
            head[:3].isdigit()
            and head[:1] in (b"2", b"3", b"4", b"5")
            and (len(head) < 4 or head[3:4] in (b" ", b"-", b"\r", b"\n"))
        )

    def _fail(self, reason: str) -> ProtocolError:
        self.broken = ProtocolError(reason)
        self._buf.clear()
        self._pending.clear()
        return self.broken

    def next_reply(self) -> Reply | None:
        """The next complete reply, ``None`` if more bytes are needed."""
        if self.broken is not None:
            raise self.broken
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                if len(self._buf) > self._max_line:
                    raise self._fail(
                        f"reply line longer than {self._max_line} bytes without an end"
                    )
                return None
            if nl + 1 > self._max_line:
                raise self._fail(f"reply line longer than {self._max_line} bytes")
            raw = bytes(self._buf[:nl])
            del self._buf[: nl + 1]
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            if self._on_line is not None:
                self._on_line(printable(raw))
            m = _REPLY_LINE.match(raw)
            if not m:
                raise self._fail(f"not an SMTP reply line: {printable(raw[:80])!r}")
            code = int(m.group(1))
            if code < 200 or code >= 600:
                raise self._fail(f"reply code {code} is outside 2xx-5xx")
            if self._code is not None and code != self._code:
                raise self._fail(f"multi-line reply changed its code from {self._code} to {code}")
            self._code = code
            self._pending.append(printable(m.group(3)))
            if len(self._pending) > self._max_lines:
                raise self._fail(f"reply longer than {self._max_lines} lines")
            if m.group(2) != b"-":
                reply = Reply(code, tuple(self._pending))
                self._pending = []
                self._code = None
                return reply


def parse_replies(data: bytes) -> list[Reply]:
    """Every complete reply in ``data`` (convenience for tests and replay)."""
    parser = ReplyParser()
    parser.feed(data)
    out = []
    while (reply := parser.next_reply()) is not None:
        out.append(reply)
    return out


# --- EHLO capabilities ------------------------------------------------------------------------

#: Extensions learners meet, with the RFC that defines each and what it means.
KNOWN_EXTENSIONS: Final = {
    "SIZE": ("RFC 1870", "the largest message the server accepts, in bytes"),
    "STARTTLS": ("RFC 3207", "the client may upgrade this connection to TLS"),
    "AUTH": ("RFC 4954", "the client may log in with these SASL mechanisms"),
    "PIPELINING": ("RFC 2920", "the client may send several commands without waiting"),
    "8BITMIME": ("RFC 6152", "message bodies may contain 8-bit bytes"),
    "SMTPUTF8": ("RFC 6531", "addresses and headers may be UTF-8"),
    "CHUNKING": ("RFC 3030", "the client may send the message in BDAT chunks"),
    "BINARYMIME": ("RFC 3030", "binary message bodies with BDAT"),
    "DSN": ("RFC 3461", "delivery status notifications on request"),
    "ENHANCEDSTATUSCODES": ("RFC 2034", "replies carry codes like 5.7.1"),
    "REQUIRETLS": ("RFC 8689", "the sender may require TLS all the way"),
    "DELIVERBY": ("RFC 2852", "deliver by a deadline"),
    "VRFY": ("RFC 5321", "verify an address"),
    "ETRN": ("RFC 1985", "ask for queued mail to be sent"),
}


@dataclass(frozen=True)
class Capabilities:
    """What an EHLO reply says the server can do."""

    greeting: str
    extensions: tuple[str, ...]  # keywords, upper case, in the order the server listed them
    params: dict[str, str] = field(default_factory=dict)  # keyword -> parameter text
    auth: tuple[str, ...] = ()  # SASL mechanisms from AUTH and the old AUTH= form
    size_limit: int | None = None
    #: each extension line as the server sent it (``SIZE 35882577``), as records keep them
    as_sent: tuple[str, ...] = ()

    @property
    def starttls(self) -> bool:
        return "STARTTLS" in self.extensions

    def has(self, keyword: str) -> bool:
        return keyword.upper() in self.extensions


def parse_ehlo(reply: Reply | Iterable[str]) -> Capabilities:
    """Parse an EHLO reply's lines into :class:`Capabilities`.

    The first line is the server's name and greeting; each further line is a keyword with
    optional parameters. ``AUTH=LOGIN PLAIN`` is the pre-standard form some servers still send
    (Outlook Express needed it); its mechanisms are merged with those of ``AUTH``. Unknown
    keywords are kept, so nothing the server said is lost.

    >>> caps = parse_ehlo(["mail.example", "SIZE 35882577", "AUTH LOGIN PLAIN", "STARTTLS"])
    >>> caps.size_limit, caps.auth, caps.starttls
    (35882577, ('LOGIN', 'PLAIN'), True)
    """
    lines = list(reply.lines if isinstance(reply, Reply) else reply)
    if not lines:
        return Capabilities(greeting="", extensions=())
    extensions: list[str] = []
    as_sent: list[str] = []
    params: dict[str, str] = {}
    auth: list[str] = []
    size: int | None = None
    for line in lines[1:]:
        line = line.strip()
        if not line:
            continue
        if line not in as_sent:
            as_sent.append(line)
        keyword = ehlo_keyword(line)
        rest = line[5:] if line.upper().startswith("AUTH=") else line.partition(" ")[2]
        rest = rest.strip()
        if keyword not in extensions:
            extensions.append(keyword)
        if keyword == "AUTH":
            for mech in rest.upper().split():
                if mech not in auth:
                    auth.append(mech)
            params["AUTH"] = " ".join(auth)
        else:
            params[keyword] = rest
        if keyword == "SIZE" and rest.isdigit():
            size = int(rest)
    return Capabilities(
        greeting=lines[0],
        extensions=tuple(extensions),
        params=params,
        auth=tuple(auth),
        size_limit=size,
        as_sent=tuple(as_sent),
    )


def ehlo_keyword(extension: str) -> str:
    """The keyword of one EHLO extension as sent, upper case: ``SIZE`` of ``SIZE 35882577``,
    ``AUTH`` of the pre-standard ``AUTH=LOGIN PLAIN`` too.

    >>> ehlo_keyword("size 35882577"), ehlo_keyword("AUTH=LOGIN")
    ('SIZE', 'AUTH')
    """
    word = extension.strip().split(None, 1)[0].upper() if extension.strip() else ""
    return "AUTH" if word.startswith("AUTH=") else word


def parse_ehlo_text(reply: str) -> Capabilities | None:
    """Parse an EHLO reply as raw text (``"250-mail.example Hello\\r\\n250 SIZE 1000"``), the
    form tools such as ZGrab2 store; ``None`` when it is no 250 reply (nothing was learnt)."""
    lines = [ln for ln in reply.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines or not lines[0].startswith("250"):
        return None
    return parse_ehlo(
        [lines[0][4:].strip(), *(ln[4:] for ln in lines[1:] if len(ln) > 4 and ln[:3] == "250")]
    )


# --- commands ---------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def build_command(verb: str, argument: str | None = None, *, limit: int = MAX_COMMAND) -> bytes:
    """One command line as bytes, CRLF included.

    Refuses CR, LF and every other control character (a CRLF inside an argument would smuggle a
    second command: SMTP command injection) and lines over RFC 5321's 512 octets (``limit``:
    :data:`MAX_AUTH_LINE` for a line of an AUTH exchange that is not the AUTH command).
    """
    line = verb if argument is None else f"{verb} {argument}"
    bad = _CONTROL.search(line)
    if bad:
        raise CommandError(
            f"refusing to send a command containing control character {bad.group()!r}"
        )
    data = line.encode("utf-8") + b"\r\n"
    if len(data) > limit:
        where = "RFC 5321 §4.5.3.1.4" if limit == MAX_COMMAND else "RFC 4954 §4"
        raise CommandError(f"command longer than {limit} octets ({where})")
    return data


def validate_ehlo_name(name: str) -> str:
    """Check an EHLO/HELO name: a domain (``client.example``) or an address literal.

    RFC 5321 §4.1.1.1 asks for the client's fully-qualified domain name or, failing that, an
    address literal such as ``[192.0.2.1]`` or ``[IPv6:2001:db8::1]``.
    """
    if not isinstance(name, str) or not name:
        raise CommandError("the EHLO name must be a non-empty domain or address literal")
    if _CONTROL.search(name) or " " in name:
        raise CommandError(f"the EHLO name {name!r} contains spaces or control characters")
    if name.startswith("[") and name.endswith("]"):
        import ipaddress

        inner = name[1:-1]
        if inner.lower().startswith("ipv6:"):
            inner = inner[5:]
        try:
            ipaddress.ip_address(inner)
        except ValueError:
            raise CommandError(f"{name!r} is not a valid address literal") from None
        return name
    try:
        ascii_name = name.encode("idna").decode("ascii")
    except UnicodeError:
        raise CommandError(f"{name!r} is not a valid domain name") from None
    if len(ascii_name) > MAX_DOMAIN or not all(
        _LABEL.match(label) for label in ascii_name.rstrip(".").split(".")
    ):
        raise CommandError(f"{name!r} is not a valid domain name")
    return ascii_name


# --- transcripts (smtplab.redaction hides the secrets in them) --------------------------------

REDACTED: Final = "[redacted]"


#: A value in an event line's ``data``: text, a number, a yes/no, or a list of texts.
EventValue = str | int | float | bool | list[str]


@dataclass(frozen=True)
class TranscriptLine:
    """One line of a probe's conversation.

    ``t`` is milliseconds since the probe started; ``dir`` is ``client`` (we sent it),
    ``server`` (we received it) or ``event`` (something that happened: connected, TLS up, ...).
    An event line also says what happened as data: its ``kind`` (a word of
    :data:`smtplab.schema.EVENT_KINDS`) and, where a step needs them, structured fields in
    ``data`` (names of :data:`smtplab.schema.EVENT_FIELDS`); ``text`` is the sentence for
    people, which may be reworded freely. Lines of records older than schema 3 have no kind.
    """

    t: float
    dir: str
    text: str
    kind: str | None = None
    data: dict[str, EventValue] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"t": round(self.t, 3), "dir": self.dir, "text": self.text}
        if self.kind is not None:
            out["kind"] = self.kind
            if self.data:
                out["data"] = dict(self.data)
        return out

    @classmethod
    def from_dict(cls, item: object) -> TranscriptLine:
        """A line from its record form (a dict, or a row of a table: missing values, NaN and
        array-valued lists are read as what they stand for)."""
        if isinstance(item, TranscriptLine):
            return item
        row: Mapping[str, Any] = item if isinstance(item, Mapping) else vars(item)
        get = row.get
        kind = get("kind")
        data = get("data")
        return cls(
            float(get("t", 0.0)),
            str(get("dir")),
            str(get("text")),
            kind if isinstance(kind, str) else None,
            _event_data(data),
        )


def _event_data(data: object) -> dict[str, EventValue]:
    """An event line's data without its empty fields (a table holds every field of every line)."""
    if not isinstance(data, Mapping):
        return {}
    out: dict[str, EventValue] = {}
    for key, value in data.items():
        if hasattr(value, "tolist") and not isinstance(value, (str, int, float, bool)):
            value = value.tolist()
        if value is None or (isinstance(value, float) and value != value):
            continue
        out[str(key)] = [str(x) for x in value] if isinstance(value, (list, tuple)) else value
    return out


# --- the client's states, as data -------------------------------------------------------------

#: The states an SMTP client moves through and the commands that move it. A notebook draws the
#: state diagram from this table; the probe engine checks each step against it.
CLIENT_TRANSITIONS: Final[dict[str, dict[str, str]]] = {
    "CONNECTING": {"connected": "GREETING", "tls-connected": "GREETING"},
    "GREETING": {"220": "READY", "421/554": "CLOSED"},
    "READY": {"EHLO": "EHLO-SENT", "HELO": "EHLO-SENT", "QUIT": "CLOSED"},
    "EHLO-SENT": {"250": "SESSION", "5xx": "READY"},
    "SESSION": {
        "STARTTLS": "STARTTLS-SENT",
        "AUTH": "AUTH",
        "MAIL": "MAIL",
        "QUIT": "CLOSED",
    },
    "STARTTLS-SENT": {"220": "TLS-HANDSHAKE", "4xx/5xx": "SESSION"},
    "TLS-HANDSHAKE": {"handshake-ok": "READY", "handshake-failed": "CLOSED"},
    "AUTH": {"334": "AUTH", "235": "SESSION", "4xx/5xx": "SESSION"},
    "MAIL": {"RCPT": "RCPT", "RSET": "SESSION"},
    "RCPT": {"RCPT": "RCPT", "DATA": "DATA", "RSET": "SESSION"},
    "DATA": {"250": "SESSION"},
    "CLOSED": {},
}


def client_states() -> list[tuple[str, str, str]]:
    """The transition table as (from state, event or command, to state) rows."""
    return [(s, e, t) for s, edges in CLIENT_TRANSITIONS.items() for e, t in edges.items()]


# --- explanations for learners ----------------------------------------------------------------

REPLY_CODES: Final = {
    211: "system status",
    214: "help message",
    220: "service ready: the server greets you (or agrees to start TLS)",
    221: "closing the connection: goodbye",
    235: "authentication succeeded",
    250: "requested action okay, completed",
    251: "user not local; will forward",
    252: "cannot verify the user, but will accept the message",
    334: "server challenge: continue the authentication",
    354: "start the message; end it with a line holding only a dot",
    421: "service not available, closing the connection (often: too busy or you are blocked)",
    450: "mailbox unavailable (temporary)",
    451: "local error in processing (temporary)",
    452: "insufficient storage (temporary)",
    454: "TLS or authentication temporarily unavailable",
    500: "syntax error: command not recognised",
    501: "syntax error in parameters",
    502: "command not implemented",
    503: "bad sequence of commands",
    504: "parameter not implemented",
    530: "authentication (or TLS) required first",
    534: "authentication mechanism too weak",
    535: "authentication failed: wrong credentials",
    538: "encryption required for this authentication mechanism",
    550: "mailbox unavailable, or policy refusal",
    551: "user not local",
    552: "message too big for the server",
    553: "mailbox name not allowed",
    554: "transaction failed, or: no SMTP service here for you",
}

COMMANDS: Final = {
    "EHLO": "Extended hello: says who the client is and asks what the server supports (RFC 5321).",
    "HELO": "Old-style hello, from before extensions existed (RFC 821).",
    "STARTTLS": "Asks to turn this plain connection into an encrypted one with TLS (RFC 3207).",
    "AUTH": "Logs in with a SASL mechanism; only safe once the connection is encrypted (RFC 4954).",
    "MAIL": "Starts a message: MAIL FROM:<sender>.",
    "RCPT": "Names one recipient: RCPT TO:<recipient>.",
    "DATA": "Sends the message itself, ended by a line with a single dot.",
    "BDAT": "Sends the message in chunks (CHUNKING, RFC 3030).",
    "RSET": "Forgets the current message and starts over.",
    "NOOP": "Does nothing; checks the connection is alive.",
    "QUIT": "Ends the conversation politely.",
    "VRFY": "Asks whether an address exists (most servers decline).",
}


def explain_reply(code: int) -> str:
    """A plain sentence for a reply code (by its class when the code itself is not listed)."""
    if code in REPLY_CODES:
        return REPLY_CODES[code]
    return {
        2: "success",
        3: "more input needed",
        4: "temporary failure: try again later",
        5: "permanent failure",
    }.get(code // 100, "not a valid SMTP reply code")


def explain_line(direction: str, text: str) -> str:
    """Explain one transcript line for a learner."""
    if direction == "client":
        verb = text.split(" ", 1)[0].split(":", 1)[0].upper()
        return COMMANDS.get(verb, "client data" if text else "")
    if direction == "server":
        m = re.match(r"^(\d{3})([ -]|$)", text)
        if m:
            return f"{m.group(1)}: {explain_reply(int(m.group(1)))}"
        return "not an SMTP reply line"
    return "what happened on the connection"
