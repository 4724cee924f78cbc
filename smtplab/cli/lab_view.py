"""The lab's terminal face: a table of each host's ports and behaviour, and the one line to
point a mail program at, which the advice engine (:func:`smtplab.advise`) decides from a live
probe of the lab. The lab itself (:mod:`smtplab.lab`) prints nothing and knows no advice: this
module is where the two meet."""

from __future__ import annotations

from typing import Any, Final

from rich.table import Table
from rich.text import Text

from smtplab.cli.render import styled
from smtplab.safe_text import safe_text

__all__ = ["BEHAVIOUR_STYLE", "behaviour_table", "behaviour_word", "lab_advice", "point_line"]

#: A behaviour of the scenario's network (labworld.py) -> its colour: green where a server
#: answers as itself, yellow where the network is in the way, red where something else answers.
BEHAVIOUR_STYLE: Final = {
    "open": "green",
    "refused": "yellow",
    "filtered": "yellow",
    "silent": "yellow",
    "slow": "yellow",
    "intercept": "bold red",
    "strip": "bold red",
}


def behaviour_word(endpoint: Any) -> Text:
    """The word (and colour) the table shows for one endpoint: its behaviour in the scenario.
    Every table of the lab calls this one function for its words."""
    word = str(endpoint.behaviour)
    return styled(word, BEHAVIOUR_STYLE.get(word, ""))


def behaviour_table(endpoints: Any) -> Table:
    """One row per host, one column per port, each cell the behaviour there."""
    ports = sorted({e.port for e in endpoints})
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("HOST", no_wrap=True, overflow="ellipsis")
    for port in ports:
        table.add_column(str(port), no_wrap=True)
    by_host: dict[str, dict[int, Any]] = {}
    for e in endpoints:
        by_host.setdefault(e.host, {})[e.port] = e
    for host, cells in by_host.items():
        table.add_row(
            styled(safe_text(host)),
            *(behaviour_word(cells[p]) if p in cells else styled("-") for p in ports),
        )
    return table


def lab_advice(lab: Any, purpose: str = "mail-client", *, timeout: float = 1.0) -> Any:
    """Probe the lab's submission server (its MX for ``mail-server``) on the four ports from
    here and return :func:`smtplab.advise`'s :class:`~smtplab.advice.Advice`."""
    from smtplab.advice import advise
    from smtplab.engine import probe_many
    from smtplab.lab import PORTS

    host = "mx.lab.example" if purpose == "mail-server" else "smtp.lab.example"
    results = probe_many([(host, p) for p in PORTS], lab=lab, timeout=timeout)
    return advise(results, purpose=purpose, host=host)


def point_line(lab: Any, advice: Any) -> str:
    """The one line to point a mail program at: the real socket behind the port ``advice``
    recommends, its security, the user and the password."""
    rec = advice.recommended
    if rec is None:
        return f"No port of {advice.host or 'smtp.lab.example'} is safe for a mail program here."
    ip, port = lab.address(rec.host, rec.port)
    server = f"[{ip}]" if ":" in ip else ip
    _, password = lab.credentials
    return (
        f"Point your mail program at server {server}, port {port} "
        f"({rec.host}:{rec.port}), security {rec.security_words}, user {rec.user_name}, "
        f"password {password}"
    )
