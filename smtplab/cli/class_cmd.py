"""``smtplab class serve``: the class's collector on this computer, for the classroom's LAN."""

from __future__ import annotations

import argparse

from smtplab.cli.errors import UsageError
from smtplab.cli.options import port_number
from smtplab.safe_text import safe_text

__all__ = ["add_class_arguments", "run_class"]


def add_class_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="serve")
    serve = sub.add_parser("serve", help="collect the class's probes and show them live")
    serve.add_argument("--dir", default="smtplab-class", help="where the class's database is kept")
    serve.add_argument(
        "--bind",
        default="0.0.0.0",  # the classroom LAN is the point
        help="address to listen on (default: every interface, for the classroom's LAN)",
    )
    serve.add_argument("--port", type=port_number, default=8025)
    serve.add_argument(
        "--https",
        action="store_true",
        help="serve HTTPS with a certificate from the lab's CA (learners add --class-ca FILE)",
    )
    serve.add_argument("--cert", metavar="FILE", help="HTTPS with your own certificate (PEM)")
    serve.add_argument("--key", metavar="FILE", help="the private key of --cert (PEM)")


def run_class(args: argparse.Namespace) -> int:
    if args.action != "serve":
        raise UsageError("say what to do: smtplab class serve")
    from pathlib import Path

    from smtplab.classroom.server import ClassServer, lab_ca_certificate, lan_addresses

    if bool(args.cert) != bool(args.key) or (args.cert and args.https):
        raise UsageError("HTTPS: give either --https (the lab's CA) or both --cert and --key")
    host = args.bind
    shown = [host] if host not in ("0.0.0.0", "::") else (lan_addresses() or ["127.0.0.1"])
    tls = None
    ca_note = ""
    if args.https:
        names = sorted({*shown, "127.0.0.1", "localhost"})
        cert, key, ca = lab_ca_certificate(Path(args.dir), names)
        tls, ca_note = (cert, key), f" --class-ca {safe_text(ca)}"
    elif args.cert:
        for path in (args.cert, args.key):
            if not Path(path).is_file():
                raise UsageError(f"{safe_text(path)}: no such file")
        tls = (args.cert, args.key)
    try:
        from smtplab.charts.classview import class_heatmap

        server = ClassServer(args.dir, host=args.bind, port=args.port, tls=tls, chart=class_heatmap)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.bind}:{args.port}: {exc.strerror}") from None
    port = server.address[1]
    scheme = "https" if tls else "http"
    session = server.session
    print(f"Class collector running. Join code: {session.code}")
    for address in shown:
        where = f"{scheme}://{safe_text(address)}:{port}" if tls else f"{safe_text(address)}:{port}"
        print(f"  learners share with: --share {where} --code {session.code}{ca_note}")
    print(f"  your live view: {scheme}://127.0.0.1:{port}/?key={session.teacher_key}")
    print(f"  the class's database: {safe_text(server.store.path)}   (Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0
