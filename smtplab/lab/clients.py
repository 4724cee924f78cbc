"""Stdlib ``smtplib`` clients that talk to a lab endpoint by its logical name.

A lab endpoint lives on a loopback socket such as ``127.0.0.1:40123``, but its certificate names
``smtp.lab.example``. These clients connect to the real socket and use the logical name for
TLS server name indication and certificate checks -- so verification stays ON, as it should.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from typing import Any

__all__ = ["LabSMTP", "LabSMTP_SSL"]


class LabSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` whose STARTTLS checks the certificate against ``tls_name``."""

    def __init__(self, address: tuple[str, int], tls_name: str, **kw: Any) -> None:
        self._tls_name = tls_name
        super().__init__(address[0], address[1], **kw)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        # smtplib passes self._host as server_hostname to starttls(); make it the logical name.
        self._host = self._tls_name
        return sock


class LabSMTP_SSL(smtplib.SMTP_SSL):
    """``smtplib.SMTP_SSL`` (implicit TLS) that checks the certificate against ``tls_name``."""

    def __init__(
        self, address: tuple[str, int], tls_name: str, *, context: ssl.SSLContext, **kw: Any
    ) -> None:
        self._tls_name = tls_name
        super().__init__(address[0], address[1], context=context, **kw)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = self._tls_name  # SMTP_SSL wraps the socket with server_hostname=self._host
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        return sock
