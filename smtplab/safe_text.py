"""Text from data, made safe for a terminal or a page: one function every view goes through.

Record fields, banners, transcripts and file names come from servers and files we do not control.
Printed raw, an ``ESC ] 0 ; … BEL`` retitles the terminal, ``ESC [ 2 J`` clears it, a C1 ``CSI``
(U+009B) does the same on terminals that honour 8-bit controls, and a right-to-left override
(U+202E) makes ``exe.txt`` read as ``txt.exe``. :func:`safe_text` shows every such character
as a visible escape (``\\x1b``, ``\\u202e``) instead; :func:`safe_json_line` does so inside JSON.
"""

from __future__ import annotations

import re

__all__ = ["safe_json_line", "safe_text"]

#: C0 controls and DEL, C1 controls (U+0080-U+009F), bidirectional marks, embeddings, overrides and
#: isolates (Unicode TR #9: U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069), zero-width and
#: invisible format characters, line/paragraph separators, the BOM, interlinear annotation marks,
#: and lone surrogates (undecodable bytes kept by ``surrogateescape``), which cannot be printed.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\ud800-\udfff]"
)

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(value: object) -> str:
    """``value`` as text with every control or direction-changing character shown escaped.

    ``None`` becomes ``""``. Printable text, accents and emoji are kept as they are.

    >>> safe_text("lab\\x1b]0;pwned\\x07\\x1b[2J")
    'lab\\\\x1b]0;pwned\\\\x07\\\\x1b[2J'
    """
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def safe_json_line(line: str) -> str:
    """A JSON text with the unsafe characters that ``json.dumps(ensure_ascii=False)`` leaves raw
    (C1 controls, bidi overrides, lone surrogates) written as ``\\uXXXX`` escapes: the same JSON
    value, safe on a terminal. (They can only occur inside JSON strings, where the escape is valid.)
    """
    return _UNSAFE.sub(_json_escape, line)
