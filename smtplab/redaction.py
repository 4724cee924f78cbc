"""Keeping a login's secret out of everything a probe shows, in every form a server can echo it.

A probe that logs in sends its password (inside AUTH PLAIN's or AUTH LOGIN's base64). The lines
it sends are redacted as they are written (:class:`Redactor`, below); what a server
sends back is another matter: a hostile or broken server can echo the secret in a 535, a 334
challenge, a line that is not SMTP (which then lands, quoted, in the probe's error), a later
greeting. It may echo it transformed. A :class:`Scrubber` finds the secret in a text however it
came back and replaces it with ``[redacted]``:

- **whole**, in every *form*: the password; the base64 payloads of AUTH PLAIN, AUTH LOGIN (user
  and password), XOAUTH2 and OAUTHBEARER, each with and without ``=`` padding; and each of those
  upper- or lower-cased (matching ignores case, and knows that ``ß`` upper-cases to ``SS``), in
  hex, URL-encoded (``%XX`` where a URL needs it or for every byte, with ``+`` or ``%20`` for
  spaces), escaped the way ``repr()``/``ascii()`` escape it (either quote), escaped by
  :func:`~smtplab.protocol.printable`, or both (``repr(printable(...))`` is how an error quotes
  a bad line);
- **in fragments**: any run of at least :data:`MIN_FRAGMENT` characters of any form (a cut prefix
  such as the first 20 characters, a suffix, a middle part);
- **split over two lines**: a form whose beginning ends one line and whose rest starts the next
  (after that line's reply code and enhanced status code), whatever the lengths of the pieces.

A form shorter than :data:`MIN_FRAGMENT` is found only whole (a 5-character password is replaced
wherever those 5 characters appear, and nowhere else); a fragment shorter than
:data:`MIN_FRAGMENT` of a longer form is not found unless it is the piece of a split.

The work is linear in the text: positions are sampled every :data:`_STEP` characters and looked
up in a table of the forms' 4-character pieces, and each alignment with a form is extended only
once. A text whose matching would cost more than :data:`WORK_PER_CHAR` steps a character (only a
repetitive secret in repetitive text does that) is replaced by ``[redacted]`` whole: bounded, and
never a leak.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from typing import Final
from urllib.parse import quote, quote_plus

from smtplab.protocol import REDACTED, TranscriptLine, printable

__all__ = [
    "MIN_FRAGMENT",
    "WORK_PER_CHAR",
    "Redactor",
    "Scrubber",
    "redact_transcript",
    "secret_bases",
    "secret_forms",
    "transformed_forms",
]

#: The shortest run of a secret's form that is redacted when found on its own (a cut prefix, a
#: suffix). Eight characters are most of a typical password and past what a guess can fill in;
#: eight characters of base64 match other text by chance once in 3×10^14 positions. Shorter
#: runs of an ordinary password ("passw") would black out ordinary words. Shorter forms, and the
#: pieces of a split, are still found whole.
MIN_FRAGMENT: Final = 8

#: Fragments are found through pieces of this many characters...
_K: Final = 4
#: ...looked up at every _STEP-th position of the text: a run of MIN_FRAGMENT characters always
#: holds one whole piece starting at a sampled position.
_STEP: Final = MIN_FRAGMENT - _K + 1

#: Matching steps allowed per character of text (plus a fixed allowance) before the whole text is
#: redacted instead: ordinary text costs a fraction of a step a character, an echo of a secret
#: about one a character; a repetitive secret in repetitive text costs hundreds.
WORK_PER_CHAR: Final = 4
_WORK_ALLOWANCE: Final = 20_000

#: Stands for an existing ``[redacted]`` while matching: no form contains NUL (a credential may
#: not hold control characters, and every escaped form spells NUL out), so nothing matches across
#: a redaction, and redacting twice changes nothing.
_MASK: Final = "\0" * len(REDACTED)

#: What may stand before the rest of a split secret on the next line: a reply code, then an
#: enhanced status code (spaces after either are tried both ways).
_CODE = re.compile(r"^[0-9]{3}[ -]?")
_LINE_HEAD = re.compile(r"^[0-9]{3}[ -]?[245]\.[0-9]{1,3}\.[0-9]{1,3} ?")


class _Fold(dict[int, str]):
    """``str.translate`` table: each character to its lower case, when that is one character
    (``İ`` lower-cases to two, so it stays): folding keeps every index where it was."""

    def __missing__(self, code: int) -> str:
        low = chr(code).lower()
        self[code] = out = low if len(low) == 1 else chr(code)
        return out


_FOLD = _Fold()


def _fold(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_FOLD)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def secret_bases(user: str, password: str) -> tuple[str, ...]:
    """What a login with ``(user, password)`` can put on the wire, before any transformation:
    the password, and the base64 of AUTH PLAIN's payload, AUTH LOGIN's user and password,
    XOAUTH2's and OAUTHBEARER's payloads (the password as the token), with and without padding.
    The user name alone is not a secret (a server may greet you by it)."""
    encoded = [
        _b64(f"\0{user}\0{password}"),
        _b64(user),
        _b64(password),
        _b64(f"user={user}\x01auth=Bearer {password}\x01\x01"),
        _b64(f"n,a={user},\x01auth=Bearer {password}\x01\x01"),
    ]
    out = dict.fromkeys([password, *encoded, *(x.rstrip("=") for x in encoded)])
    return tuple(x for x in out if x)


class _Escape(dict[int, str]):
    """``str.translate`` table: each character as ``repr()`` (or ``ascii()``) writes it between
    ``quote`` quotes."""

    def __init__(self, quote: str, ascii_only: bool) -> None:
        super().__init__()
        self.quote, self.ascii_only = quote, ascii_only

    def __missing__(self, code: int) -> str:
        c = chr(code)
        if c in "'\"":
            out = "\\" + c if c == self.quote else c
        else:
            out = (ascii(c) if self.ascii_only else repr(c))[1:-1]
        self[code] = out
        return out


_ESCAPES = tuple(_Escape(q, a) for q in "'\"" for a in (False, True))


def _escapes(text: str) -> set[str]:
    """How a text can look once quoted: as is, repr()/ascii() with either quote."""
    return {text} | {text.translate(table) for table in _ESCAPES}


def transformed_forms(secret: str) -> set[str]:
    """Every form :class:`Scrubber` looks for, of one secret: what a server may make of it
    (upper/lower case, hex, URL-encoding, ``repr()``), then how the probe shows that (as is,
    escaped by :func:`~smtplab.protocol.printable`, quoted by ``repr()`` in an error)."""
    data = secret.encode("utf-8")
    echoed = {secret, secret.upper(), secret.lower(), secret.swapcase(), secret.casefold()}
    echoed |= {data.hex(), "".join(f"%{b:02x}" for b in data)}
    for safe in ("", "/", "!'()*~"):
        echoed |= {quote(secret, safe=safe), quote_plus(secret, safe=safe)}
    echoed |= _escapes(secret)
    shown: set[str] = set()
    for form in echoed:
        for escaped in {form, printable(form.encode("utf-8"))}:
            shown |= _escapes(escaped)
    return {x for x in shown if x}


class Scrubber:
    """Finds secrets in text, in every form, and replaces them with ``[redacted]``.

    ``Scrubber(secrets)`` takes the secrets as sent (:func:`secret_bases` gives them for a
    login); ``Scrubber()`` knows none and returns every text unchanged, at no cost.

    >>> s = Scrubber.for_login("alice", "s3cret-Passw0rd")
    >>> s.scrub("535 5.7.8 you said S3CRET-PASSW0RD")
    '535 5.7.8 you said [redacted]'
    >>> s.scrub("not an SMTP reply line: 'what you sent: s3cret-Pass'")
    "not an SMTP reply line: 'what you sent: [redacted]'"
    >>> s.scrub_lines(["535-5.7.8 you said s3c", "535 5.7.8 ret-Passw0rd"])
    ['535-5.7.8 you said [redacted]', '535 5.7.8 [redacted]']
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms |= {_fold(x) for x in transformed_forms(secret)}
        forms = {x for x in forms if x and "\0" not in x}
        #: every form, folded, longest first
        self.forms: tuple[str, ...] = tuple(sorted(forms, key=lambda x: (-len(x), x)))
        self._short = tuple(x for x in self.forms if len(x) < MIN_FRAGMENT)
        self._long = tuple(x for x in self.forms if len(x) >= MIN_FRAGMENT)
        pieces: dict[str, list[tuple[int, int]]] = {}
        for i, form in enumerate(self._long):
            for off in range(len(form) - _K + 1):
                pieces.setdefault(form[off : off + _K], []).append((i, off))
        self._pieces = {k: tuple(v) for k, v in pieces.items()}
        joins: dict[str, list[tuple[int, int]]] = {}  # the two characters either side of a cut
        for i, form in enumerate(self.forms):
            for cut in range(1, len(form)):
                joins.setdefault(form[cut - 1 : cut + 1], []).append((i, cut))
        self._joins = {k: tuple(v) for k, v in joins.items()}

    @classmethod
    def for_login(cls, user: str, password: str) -> Scrubber:
        """The scrubber for one login's secrets (:func:`secret_bases`)."""
        return cls(secret_bases(user, password))

    def __bool__(self) -> bool:
        return bool(self.forms)

    # --- the public passes --------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``[redacted]``; its lines (split
        at ``\\n``) are also checked for a secret split across two of them."""
        if not self.forms or not text:
            return text
        if "\n" not in text:
            return self.scrub_lines([text])[0]
        return "\n".join(self.scrub_lines(text.split("\n")))

    def scrub_lines(self, lines: Sequence[str]) -> list[str]:
        """Each line scrubbed, and a secret split across neighbours (its beginning ending one
        line, its rest starting the next after the reply code) redacted in both."""
        if not self.forms:
            return list(lines)
        masked = [_fold(x).replace(REDACTED, _MASK) for x in lines]
        spans: list[list[tuple[int, int]] | None] = [self._spans(m) for m in masked]
        for i in range(len(lines) - 1):
            for (a0, a1), (b0, b1) in self._splits(masked[i], masked[i + 1]):
                for k, span in ((i, (a0, a1)), (i + 1, (b0, b1))):
                    found = spans[k]
                    if found is not None:
                        found.append(span)
        return [_apply(line, found) for line, found in zip(lines, spans, strict=True)]

    # --- matching -----------------------------------------------------------------------------

    def _spans(self, t: str) -> list[tuple[int, int]] | None:
        """Where forms (whole, or fragments of MIN_FRAGMENT and more) are in the folded, masked
        text ``t``; ``None`` when finding out would cost more than the work allowed."""
        n = len(t)
        budget = WORK_PER_CHAR * n + _WORK_ALLOWANCE
        spans: list[tuple[int, int]] = []
        for form in self._short:
            i = t.find(form)
            while i >= 0:
                spans.append((i, i + len(form)))
                budget -= 1
                if budget < 0:
                    return None
                i = t.find(form, i + 1)
        if n < MIN_FRAGMENT or not self._long:
            return spans
        pieces, forms = self._pieces, self._long
        reached: dict[tuple[int, int], int] = {}  # (form, where it would start) -> end matched
        for p in range(0, n - _K + 1, _STEP):
            entries = pieces.get(t[p : p + _K])
            if entries is None:
                continue
            for fid, off in entries:
                budget -= 1
                key = (fid, p - off)
                if reached.get(key, -1) >= p + _K:
                    continue  # this alignment was extended through here already
                form = forms[fid]
                i, j = p, off
                while i > 0 and j > 0 and t[i - 1] == form[j - 1]:
                    i -= 1
                    j -= 1
                e, k = p + _K, off + _K
                while e < n and k < len(form) and t[e] == form[k]:
                    e += 1
                    k += 1
                budget -= e - i
                reached[key] = e
                if e - i >= MIN_FRAGMENT:
                    spans.append((i, e))
                if budget < 0:
                    return None
        return spans

    def _splits(self, a: str, b: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
        """A form whose beginning ends line ``a`` (trailing spaces aside or not) and whose rest
        starts line ``b`` (at its start, after its reply code, its enhanced status code or the
        spaces after them): the two pieces' spans."""
        ends = {len(a), len(a.rstrip(" \t"))} - {0}
        starts = {0}
        for m in (_CODE.match(b), _LINE_HEAD.match(b)):
            if m:
                starts |= {m.end(), len(b) - len(b[m.end() :].lstrip(" \t"))}
        out = []
        for end in ends:
            for start in starts:
                if start >= len(b):
                    continue
                for fid, cut in self._joins.get(a[end - 1] + b[start], ()):
                    form = self.forms[fid]
                    if a.endswith(form[:cut], 0, end) and b.startswith(form[cut:], start):
                        out.append(((end - cut, end), (start, start + len(form) - cut)))
        return out


def _apply(text: str, spans: list[tuple[int, int]] | None) -> str:
    """``text`` with each span (merged where they touch) replaced by ``[redacted]``; ``None``
    (matching cost too much) redacts all of it."""
    if spans is None:
        return REDACTED
    if not spans:
        return text
    out = []
    pos = 0
    spans.sort()
    cur0, cur1 = spans[0]
    for s0, s1 in spans[1:]:
        if s0 <= cur1:
            cur1 = max(cur1, s1)
            continue
        out += [text[pos:cur0], REDACTED]
        pos = cur1
        cur0, cur1 = s0, s1
    out += [text[pos:cur0], REDACTED, text[cur1:]]
    return "".join(out)


# --- following an AUTH exchange as it is written --------------------------------------------


class Redactor:
    """Follows an AUTH exchange and hides every secret in it.

    ``AUTH PLAIN <payload>`` keeps its mechanism and loses the payload; after a ``334``
    continuation every client line (AUTH LOGIN's user and password, CRAM-MD5's digest,
    XOAUTH2's token) is redacted until the server sends a reply that is not ``334``.

    ``secrets`` are what the login sends (:func:`secret_bases`); its
    :attr:`scrubber` finds them, in every form a server can echo them, in any text
    (:class:`Scrubber`).
    """

    def __init__(self, secrets: Iterable[str] = (), *, scrubber: Scrubber | None = None) -> None:
        self._in_auth = False
        self.scrubber = scrubber if scrubber is not None else Scrubber(secrets)

    def scrub(self, text: str) -> str:
        """``text`` with every form of the secret replaced by ``[redacted]`` (a server that
        echoes the AUTH data back must not put it into a transcript, error or finding)."""
        return self.scrubber.scrub(text)

    def client(self, text: str) -> str:
        """The text to record for a client line."""
        if self._in_auth:
            return REDACTED
        verb, _, rest = text.partition(" ")
        if verb.upper() == "AUTH":
            self._in_auth = True
            mech, _, payload = rest.partition(" ")
            return f"AUTH {mech} {REDACTED}" if payload else f"AUTH {mech}"
        return text

    def server(self, reply_code: int | None) -> None:
        """Note a server reply code (a reply that is not 334 ends the AUTH exchange)."""
        if reply_code is not None and reply_code != 334:
            self._in_auth = False


def secret_forms(user: str, password: str) -> tuple[str, ...]:
    """Every form an AUTH secret takes on the wire, as sent and as a transcript would show it:
    the password, AUTH PLAIN's base64 payload, AUTH LOGIN's base64 user and password (each also
    without its ``=`` padding, which an echo may drop). The redaction itself looks for many more
    (:class:`Scrubber`: case, hex, URL-encoding, escapes, fragments)."""

    def b64(text: str) -> str:
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    raw = {password, b64(f"\0{user}\0{password}"), b64(user), b64(password)}
    raw |= {x.rstrip("=") for x in raw if x.rstrip("=")}
    shown = {printable(x.encode("utf-8")) for x in raw}
    return tuple(sorted((x for x in raw | shown if x), key=len, reverse=True))


def redact_transcript(lines: Iterable[TranscriptLine]) -> list[TranscriptLine]:
    """Redact AUTH secrets from a finished transcript (for imported or legacy data)."""
    red = Redactor()
    out = []
    for line in lines:
        if line.dir == "client":
            out.append(TranscriptLine(line.t, line.dir, red.client(line.text)))
        else:
            if line.dir == "server":
                m = re.match(r"^(\d{3})([ -]|$)", line.text)
                if m and m.group(2) != "-":
                    red.server(int(m.group(1)))
            out.append(line)
    return out
