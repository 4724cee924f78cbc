"""``smtplab class serve``: the class's collector on this computer, for the classroom's LAN."""

from __future__ import annotations

import argparse

from smtplab.cli.errors import UsageError
from smtplab.cli.options import port_number
from smtplab.cli.text import safe_text

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


def run_class(args: argparse.Namespace) -> int:
    if args.action != "serve":
        raise UsageError("say what to do: smtplab class serve")
    from smtplab.classroom.server import ClassServer, lan_addresses

    try:
        server = ClassServer(args.dir, host=args.bind, port=args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.bind}:{args.port}: {exc.strerror}") from None
    host, port = server.address
    shown = [host] if host not in ("0.0.0.0", "::") else (lan_addresses() or ["127.0.0.1"])
    session = server.session
    print(f"Class collector running. Join code: {session.code}")
    for address in shown:
        print(f"  learners share with: --share {safe_text(address)}:{port} --code {session.code}")
    print(f"  your live view: http://127.0.0.1:{port}/?key={session.teacher_key}")
    print(f"  the class's database: {safe_text(server.store.path)}   (Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return 0
