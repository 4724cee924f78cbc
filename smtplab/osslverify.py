"""Does a chain verify? Asked of the OpenSSL that Python's ``ssl`` already loaded, without
``cryptography`` (issue 25, item 9).

The probe's one handshake does not verify (so that a bad certificate's facts and problems can
still be read), and judging its chain with :mod:`smtplab.certpath` needs ``cryptography``:
100–160 ms to import, paid even by a certificate that verifies. Here the chain the server sent
is handed to ``X509_verify_cert`` of the very ``libcrypto`` ``_ssl`` uses, with what a
verifying handshake of :func:`smtplab.tls.client_context` sets: the same trust store, purpose
"TLS server", the host name (no partial wildcards) and security level 2. A ``True`` is that
handshake's yes. Anything else — a failure, or a system where this library cannot be found
(only Linux's ``/proc/self/maps`` is read) — answers ``None``, and the caller judges the chain
with :mod:`smtplab.certcheck` as before, which also names every problem.
"""

from __future__ import annotations

import ctypes
import functools
import ipaddress
import os
import ssl
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["chain_verifies", "warm_up"]

_X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS = 0x4
_SECURITY_LEVEL = 2  # Python 3.10+ contexts: "@SECLEVEL=2:…" (PY_SSL_DEFAULT_CIPHER_STRING)
_LOCK = threading.Lock()


def _libcrypto_path() -> str | None:
    """The ``libcrypto`` this process has loaded for ``_ssl`` (Linux only)."""
    import _ssl  # noqa: F401  (loads libcrypto, if not yet)

    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rstrip("\n").split(None, 5)[-1]
                if os.path.basename(path).startswith("libcrypto.so"):
                    return path
    except OSError:
        return None
    return None


@functools.lru_cache(maxsize=1)
def _lib() -> Any:
    path = _libcrypto_path()
    if path is None or ssl.OPENSSL_VERSION_INFO < (1, 1, 1):
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    p, i, c = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p
    sigs = {
        "d2i_X509": (p, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "X509_free": (None, [p]),
        "X509_STORE_new": (p, []),
        "X509_STORE_add_cert": (i, [p, p]),
        "X509_STORE_load_locations": (i, [p, c, c]),
        "X509_STORE_set_default_paths": (i, [p]),
        "X509_STORE_CTX_new": (p, []),
        "X509_STORE_CTX_free": (None, [p]),
        "X509_STORE_CTX_init": (i, [p, p, p, p]),
        "X509_STORE_CTX_set_default": (i, [p, c]),
        "X509_STORE_CTX_get0_param": (p, [p]),
        "X509_VERIFY_PARAM_set1_host": (i, [p, c, ctypes.c_size_t]),
        "X509_VERIFY_PARAM_set1_ip_asc": (i, [p, c]),
        "X509_VERIFY_PARAM_set_hostflags": (None, [p, ctypes.c_uint]),
        "X509_VERIFY_PARAM_set_auth_level": (None, [p, i]),
        "X509_verify_cert": (i, [p]),
        "OPENSSL_sk_new_null": (p, []),
        "OPENSSL_sk_push": (i, [p, p]),
        "OPENSSL_sk_free": (None, [p]),
        "BIO_new_mem_buf": (p, [c, i]),
        "BIO_free": (i, [p]),
        "PEM_read_bio_X509": (p, [p, p, p, p]),
        "ERR_clear_error": (None, []),
    }
    try:
        for name, (restype, argtypes) in sigs.items():
            fn = getattr(lib, name)
            fn.restype, fn.argtypes = restype, argtypes
    except AttributeError:
        return None
    return lib


def _x509(lib: Any, der: bytes) -> Any:
    buf = ctypes.c_char_p(der)
    return lib.d2i_X509(None, ctypes.byref(buf), len(der))


@functools.lru_cache(maxsize=8)
def _store(cafile: str | None, cadata: str | None) -> Any:
    """The trust store of :func:`smtplab.tls.client_context` (``verify=True``), made once."""
    lib = _lib()
    if lib is None:
        return None
    store = lib.X509_STORE_new()
    if not store:
        return None
    if cafile is None and cadata is None:
        paths = ssl.get_default_verify_paths()
        hashed = _hashed_dir(paths)
        ok = (
            lib.X509_STORE_load_locations(store, None, hashed.encode())
            if hashed
            else lib.X509_STORE_set_default_paths(store)
        )
        if not ok:
            lib.ERR_clear_error()
    if cafile is not None and not lib.X509_STORE_load_locations(store, cafile.encode(), None):
        lib.ERR_clear_error()
        return None
    if cadata is not None:
        data = cadata.encode()
        bio = lib.BIO_new_mem_buf(data, len(data))
        while True:
            cert = lib.PEM_read_bio_X509(bio, None, None, None)
            if not cert:
                break
            lib.X509_STORE_add_cert(store, cert)
            lib.X509_free(cert)
        lib.BIO_free(bio)
        lib.ERR_clear_error()  # the end of the PEM text is an "error"
    return store


def _hashed_dir(paths: ssl.DefaultVerifyPaths) -> str | None:
    """The hashed CA directory :func:`smtplab.tls._system_store_context` reads, if it does."""
    from smtplab.certcheck import _HASHED

    capath = paths.capath
    if (
        not capath
        or os.environ.get(paths.openssl_cafile_env)
        or os.environ.get(paths.openssl_capath_env)
        or not os.path.isdir(capath)
    ):
        return None
    with os.scandir(capath) as entries:
        return capath if any(_HASHED.match(e.name) for e in entries) else None


def warm_up(cafile: str | None = None, cadata: str | None = None) -> None:
    """Find the library and make the trust store ahead of need (a probe does it in a thread
    while it waits for the network)."""
    with _LOCK:
        _store(cafile, cadata)


def chain_verifies(
    chain_der: Sequence[bytes],
    server_name: str,
    *,
    cafile: str | None = None,
    cadata: str | None = None,
) -> bool | None:
    """``True`` when a verifying handshake would accept this chain (leaf first) for
    ``server_name``; ``None`` when it would not, or cannot be asked here."""
    if not chain_der:
        return None
    with _LOCK:
        lib = _lib()
        store = _store(cafile, cadata)
    if lib is None or store is None:
        return None
    certs = [_x509(lib, der) for der in chain_der]
    untrusted = lib.OPENSSL_sk_new_null()
    ctx = lib.X509_STORE_CTX_new()
    try:
        if not all(certs) or not untrusted or not ctx:
            return None
        for cert in certs[1:]:
            lib.OPENSSL_sk_push(untrusted, cert)
        if not lib.X509_STORE_CTX_init(ctx, store, certs[0], untrusted):
            return None
        lib.X509_STORE_CTX_set_default(ctx, b"ssl_server")
        param = lib.X509_STORE_CTX_get0_param(ctx)
        lib.X509_VERIFY_PARAM_set_hostflags(param, _X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS)
        lib.X509_VERIFY_PARAM_set_auth_level(param, _SECURITY_LEVEL)
        name = server_name
        try:
            ipaddress.ip_address(name)
            ok = lib.X509_VERIFY_PARAM_set1_ip_asc(param, name.encode())
        except ValueError:
            if not name.isascii() or not name or name.endswith("."):
                return None  # names Python would encode first: left to the full judge
            ok = lib.X509_VERIFY_PARAM_set1_host(param, name.encode(), len(name))
        if not ok:
            return None
        return True if lib.X509_verify_cert(ctx) == 1 else None
    finally:
        if ctx:
            lib.X509_STORE_CTX_free(ctx)
        if untrusted:
            lib.OPENSSL_sk_free(untrusted)
        for cert in certs:
            if cert:
                lib.X509_free(cert)
        lib.ERR_clear_error()
