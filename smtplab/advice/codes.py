"""What SMTP reply codes mean, by the standards: RFC 5321's three-digit codes and RFC 3463's
enhanced status codes (with the codes RFC 4954, RFC 3207 and RFC 5248 added to the IANA registry).

Data only, each entry with the section it comes from; :mod:`smtplab.advice.explainer` reads it.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BASIC",
    "BASIC_CLASS",
    "BASIC_SUBJECT",
    "ENHANCED_CLASS",
    "ENHANCED_DETAIL",
    "ENHANCED_SUBJECT",
]

#: RFC 5321 §4.2.1: the first digit of a reply code.
BASIC_CLASS: Final = {
    2: "Positive Completion reply: the requested action has been successfully completed",
    3: "Positive Intermediate reply: the command has been accepted, but the server waits for "
    "more information",
    4: "Transient Negative Completion reply: the command was not accepted, but the error "
    "condition is temporary and the action may be requested again",
    5: "Permanent Negative Completion reply: the command was not accepted and the requested "
    "action did not occur; the client should not repeat the exact request",
}

#: RFC 5321 §4.2.1: the second digit.
BASIC_SUBJECT: Final = {
    0: "Syntax",
    1: "Information",
    2: "Connections",
    3: "Unspecified",
    4: "Unspecified",
    5: "Mail system",
}

#: Reply codes with their RFC 5321 §4.2.2 text (and RFC 3207, RFC 4954 for TLS and AUTH).
BASIC: Final[dict[int, tuple[str, str]]] = {
    211: ("System status, or system help reply", "RFC 5321 §4.2.2"),
    214: ("Help message", "RFC 5321 §4.2.2"),
    220: ("<domain> Service ready", "RFC 5321 §4.2.2"),
    221: ("<domain> Service closing transmission channel", "RFC 5321 §4.2.2"),
    235: ("Authentication successful", "RFC 4954 §6"),
    250: ("Requested mail action okay, completed", "RFC 5321 §4.2.2"),
    251: ("User not local; will forward to <forward-path>", "RFC 5321 §4.2.2"),
    252: (
        "Cannot VRFY user, but will accept message and attempt delivery",
        "RFC 5321 §4.2.2",
    ),
    334: ("Server challenge: the AUTH exchange continues", "RFC 4954 §4"),
    354: ("Start mail input; end with <CRLF>.<CRLF>", "RFC 5321 §4.2.2"),
    421: (
        "<domain> Service not available, closing transmission channel",
        "RFC 5321 §4.2.2",
    ),
    432: ("A password transition is needed", "RFC 4954 §6"),
    450: (
        "Requested mail action not taken: mailbox unavailable (e.g., mailbox busy or "
        "temporarily blocked for policy reasons)",
        "RFC 5321 §4.2.2",
    ),
    451: ("Requested action aborted: local error in processing", "RFC 5321 §4.2.2"),
    452: ("Requested action not taken: insufficient system storage", "RFC 5321 §4.2.2"),
    454: (
        "Temporary authentication failure (or: TLS not available due to temporary reason)",
        "RFC 4954 §6; RFC 3207 §4",
    ),
    455: ("Server unable to accommodate parameters", "RFC 5321 §4.2.2"),
    500: ("Syntax error, command unrecognized", "RFC 5321 §4.2.2"),
    501: ("Syntax error in parameters or arguments", "RFC 5321 §4.2.2"),
    502: ("Command not implemented", "RFC 5321 §4.2.2"),
    503: ("Bad sequence of commands", "RFC 5321 §4.2.2"),
    504: ("Command parameter not implemented", "RFC 5321 §4.2.2"),
    530: (
        "Authentication required (or: Must issue a STARTTLS command first)",
        "RFC 4954 §6; RFC 3207 §4",
    ),
    534: ("Authentication mechanism is too weak", "RFC 4954 §6"),
    535: ("Authentication credentials invalid", "RFC 4954 §6"),
    538: ("Encryption required for requested authentication mechanism", "RFC 4954 §6"),
    550: (
        "Requested action not taken: mailbox unavailable (e.g., mailbox not found, no access, "
        "or command rejected for policy reasons)",
        "RFC 5321 §4.2.2",
    ),
    551: ("User not local; please try <forward-path>", "RFC 5321 §4.2.2"),
    552: ("Requested mail action aborted: exceeded storage allocation", "RFC 5321 §4.2.2"),
    553: ("Requested action not taken: mailbox name not allowed", "RFC 5321 §4.2.2"),
    554: (
        "Transaction failed (or, in the greeting: No SMTP service here)",
        "RFC 5321 §4.2.2, §3.1",
    ),
    555: (
        "MAIL FROM/RCPT TO parameters not recognized or not implemented",
        "RFC 5321 §4.2.2",
    ),
}

#: RFC 3463 §2: the class of an enhanced status code.
ENHANCED_CLASS: Final = {
    2: "Success",
    4: "Persistent Transient Failure: the message as sent is valid, but something temporary "
    "stopped it; sending it again may succeed",
    5: "Permanent Failure: not likely to be resolved by resending the message in its current form",
}

#: RFC 3463 §3.2-§3.9: the subject.
ENHANCED_SUBJECT: Final = {
    0: "Other or Undefined Status",
    1: "Addressing Status",
    2: "Mailbox Status",
    3: "Mail System Status",
    4: "Network and Routing Status",
    5: "Mail Delivery Protocol Status",
    6: "Message Content or Media Status",
    7: "Security or Policy Status",
}

_3463 = "RFC 3463 §3."
#: Subject.detail -> (meaning, source). RFC 3463 and later registrations (IANA "SMTP Enhanced
#: Status Codes"). Provider-specific codes (Microsoft's 5.7.139, 5.7.30) are not here: they are
#: in the provider knowledge base.
ENHANCED_DETAIL: Final[dict[tuple[int, int], tuple[str, str]]] = {
    (0, 0): ("Other undefined Status", _3463 + "1"),
    (1, 0): ("Other address status", _3463 + "2"),
    (1, 1): ("Bad destination mailbox address", _3463 + "2"),
    (1, 2): ("Bad destination system address", _3463 + "2"),
    (1, 3): ("Bad destination mailbox address syntax", _3463 + "2"),
    (1, 4): ("Destination mailbox address ambiguous", _3463 + "2"),
    (1, 5): ("Destination address valid", _3463 + "2"),
    (1, 6): ("Destination mailbox has moved, No forwarding address", _3463 + "2"),
    (1, 7): ("Bad sender's mailbox address syntax", _3463 + "2"),
    (1, 8): ("Bad sender's system address", _3463 + "2"),
    (2, 0): ("Other or undefined mailbox status", _3463 + "3"),
    (2, 1): ("Mailbox disabled, not accepting messages", _3463 + "3"),
    (2, 2): ("Mailbox full", _3463 + "3"),
    (2, 3): ("Message length exceeds administrative limit", _3463 + "3"),
    (2, 4): ("Mailing list expansion problem", _3463 + "3"),
    (3, 0): ("Other or undefined mail system status", _3463 + "4"),
    (3, 1): ("Mail system full", _3463 + "4"),
    (3, 2): ("System not accepting network messages", _3463 + "4"),
    (3, 3): ("System not capable of selected features", _3463 + "4"),
    (3, 4): ("Message too big for system", _3463 + "4"),
    (3, 5): ("System incorrectly configured", _3463 + "4"),
    (4, 0): ("Other or undefined network or routing status", _3463 + "5"),
    (4, 1): ("No answer from host", _3463 + "5"),
    (4, 2): ("Bad connection", _3463 + "5"),
    (4, 3): ("Directory server failure", _3463 + "5"),
    (4, 4): ("Unable to route", _3463 + "5"),
    (4, 5): ("Mail system congestion", _3463 + "5"),
    (4, 6): ("Routing loop detected", _3463 + "5"),
    (4, 7): ("Delivery time expired", _3463 + "5"),
    (5, 0): ("Other or undefined protocol status", _3463 + "6"),
    (5, 1): ("Invalid command", _3463 + "6"),
    (5, 2): ("Syntax error", _3463 + "6"),
    (5, 3): ("Too many recipients", _3463 + "6"),
    (5, 4): ("Invalid command arguments", _3463 + "6"),
    (5, 5): ("Wrong protocol version", _3463 + "6"),
    (5, 6): ("Authentication Exchange line is too long", "RFC 4954 §6"),
    (6, 0): ("Other or undefined media error", _3463 + "7"),
    (6, 1): ("Media not supported", _3463 + "7"),
    (6, 2): ("Conversion required and prohibited", _3463 + "7"),
    (6, 3): ("Conversion required but not supported", _3463 + "7"),
    (6, 4): ("Conversion with loss performed", _3463 + "7"),
    (6, 5): ("Conversion Failed", _3463 + "7"),
    (7, 0): ("Other or undefined security status", _3463 + "8"),
    (7, 1): ("Delivery not authorized, message refused", _3463 + "8"),
    (7, 2): ("Mailing list expansion prohibited", _3463 + "8"),
    (7, 3): ("Security conversion required but not possible", _3463 + "8"),
    (7, 4): ("Security features not supported", _3463 + "8"),
    (7, 5): ("Cryptographic failure", _3463 + "8"),
    (7, 6): ("Cryptographic algorithm not supported", _3463 + "8"),
    (7, 7): ("Message integrity failure", _3463 + "8"),
    (7, 8): ("Authentication credentials invalid", "RFC 4954 §6"),
    (7, 9): ("Authentication mechanism is too weak", "RFC 4954 §6"),
    (7, 10): ("Encryption Needed", "IANA SMTP Enhanced Status Codes registry (RFC 5248)"),
    (7, 11): ("Encryption required for requested authentication mechanism", "RFC 4954 §6"),
    (7, 12): ("A password transition is needed", "RFC 4954 §6"),
}
