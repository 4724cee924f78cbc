"""What a TLS session tells about itself: version, cipher and the server's certificate.

A verified session hands over the decoded certificate, and so does the chain of an unverified
one where Python hands it over (:func:`smtplab.tls.leaf_dict`); only elsewhere, or for a name
Python cannot spell as RFC 4514 short names, is the DER parsed with ``cryptography``.
"""

from __future__ import annotations

import ssl
from typing import NamedTuple

from smtplab.tls import (
    CertFacts,
    cert_chain_names,
    cert_facts,
    cert_facts_from_dict,
    leaf_dict,
)

__all__ = ["TLSFacts", "session_facts"]


class TLSFacts(NamedTuple):
    """One TLS session: ``TLSv1.3``, its cipher, and the certificate's facts (``None``s when no
    session came up)."""

    version: str | None
    cipher: str | None
    cert: CertFacts | None
    #: (subject, issuer) of each certificate the server sent, leaf first (``None``: unknown)
    chain: tuple[tuple[str, str], ...] | None = None


def session_facts(sslobj: ssl.SSLObject | None) -> TLSFacts:
    """The facts of a live TLS session (all ``None`` without one)."""
    if sslobj is None:
        return TLSFacts(None, None, None)
    cipher_info = sslobj.cipher()
    cert = (
        cert_facts_from_dict(sslobj.getpeercert())  # type: ignore[arg-type]
        or cert_facts_from_dict(leaf_dict(sslobj))
        or cert_facts(sslobj.getpeercert(binary_form=True))
    )
    chain = cert_chain_names(sslobj)
    return TLSFacts(sslobj.version(), cipher_info[0] if cipher_info else None, cert, chain)
