"""The lab's world as data: its hosts, what each serves, and the networks (scenarios) around them.

A *host* serves some of the four SMTP ports with a server *profile* (relay, submission, ...).
A *scenario* is a network between the learner and those hosts: it leaves a port alone, or filters
it, refuses it or intercepts it -- for every host at once, as a real firewall does. Resolving the
two gives, for each host and port, one :class:`EndpointPlan`: what the learner meets there and which
outcome word a probe should report.

Nothing here opens a socket; :mod:`smtplab.lab.core` turns plans into servers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from smtplab.rules import PORTS as _PORTS
from smtplab.rules import SUBMISSION_PORTS

__all__ = [
    "BEHAVIOURS",
    "DEFAULT_SCENARIO",
    "DOMAIN",
    "EXPECTED_OUTCOME",
    "HOSTS",
    "INTERCEPT_NAME",
    "PORTS",
    "PROFILES",
    "SCENARIOS",
    "TOKEN_PROFILES",
    "EndpointPlan",
    "HostService",
    "Scenario",
    "plan",
]

#: The four ports the course is about, in the order of their history.
PORTS: Final = _PORTS

#: The lab's mail domain: the relay accepts mail for it (and its subdomains) from anyone.
DOMAIN: Final = "lab.example"

#: The name the intercepting ISP proxy greets with.
INTERCEPT_NAME: Final = "smtp.isp-filter.example"

#: Server profiles, one sentence each.
PROFILES: Final[Mapping[str, str]] = {
    "relay": "a relay MTA: accepts mail for lab.example only, offers STARTTLS and no AUTH",
    "submission": "mail submission: STARTTLS first, then AUTH, then mail to anywhere",
    "submission-implicit": "mail submission over implicit TLS: TLS from the first byte, then AUTH",
    "legacy": "an old server offering AUTH PLAIN and LOGIN in cleartext, without STARTTLS",
    "submission-oauth": "submission taking only OAuth tokens (XOAUTH2, OAUTHBEARER): no password",
    "outlook-like": "answers like Outlook.com: offers AUTH LOGIN XOAUTH2, refuses any password "
    "with 535 5.7.139, takes a lab OAuth token",
    "gmail-like": "answers like Gmail with 2-Step Verification: 534-5.7.9 for the account "
    "password, takes the lab's app password or an OAuth token",
    "exchange-like": "answers like Exchange Online without Basic authentication: 550 5.7.30 for "
    "any password, takes a lab OAuth token",
    "intercept": f"the network's own server, greeting as {INTERCEPT_NAME}",
    "tarpit": "accepts the connection and never says a word",
}

#: Behaviours of an endpoint, with the outcome word a probe reports for each.
EXPECTED_OUTCOME: Final[Mapping[str, str]] = {
    "open": "open",  # a server greets with 220
    "refused": "refused",  # nothing listens: TCP reset
    "filtered": "filtered",  # the connection attempt times out
    "silent": "silent",  # connected, no greeting
    "slow": "open",  # a greeting, after SLOW_GREETING_DELAY (needs a probe timeout longer than it)
    "intercept": "open",  # a greeting -- from the wrong server
    "strip": "open",  # the real server, its STARTTLS offer masked by a middlebox on the way
}
BEHAVIOURS: Final = tuple(EXPECTED_OUTCOME)

#: Network behaviours a scenario may put on a port (for every host).
_NETWORK_BEHAVIOURS: Final = ("open", "refused", "filtered", "intercept", "strip")


@dataclass(frozen=True)
class HostService:
    """What one host serves on one port, when the network lets the connection through."""

    profile: str
    #: The certificate it presents (see :mod:`smtplab.lab.certs`), or None if it speaks no TLS.
    certificate: str | None = None
    #: "open" for a normal server, or a server-side behaviour: "silent" or "slow".
    behaviour: str = "open"


_SUBMISSION_PORTS = SUBMISSION_PORTS


def _submission(cert: str) -> dict[int, HostService]:
    return {
        465: HostService("submission-implicit", cert),
        587: HostService("submission", cert),
        2525: HostService("submission", cert),
    }


#: Every host the lab knows, with the ports it serves.  Ports missing from a host's table are
#: closed on that host (a connection is refused), unless the network does something first.
HOSTS: Final[Mapping[str, Mapping[int, HostService]]] = {
    "mx.lab.example": {25: HostService("relay", "lab-ca")},
    "smtp.lab.example": _submission("lab-ca"),
    "legacy.lab.example": {
        25: HostService("legacy"),
        587: HostService("legacy"),
    },
    "expired.lab.example": {
        465: HostService("submission-implicit", "expired"),
        587: HostService("submission", "expired"),
    },
    "selfsigned.lab.example": {
        465: HostService("submission-implicit", "self-signed"),
        587: HostService("submission", "self-signed"),
    },
    "wronghost.lab.example": {
        465: HostService("submission-implicit", "wrong-host"),
        587: HostService("submission", "wrong-host"),
    },
    "tarpit.lab.example": {
        25: HostService("tarpit", behaviour="silent"),
        587: HostService("tarpit", behaviour="silent"),
    },
    "oauth.lab.example": {587: HostService("submission-oauth", "lab-ca")},
    # Lab imitations of the big providers' logins (see smtplab.lab.logins for each reply's source),
    # on the ports their real hosts serve: smtp-mail.outlook.com and smtp.office365.com on 587,
    # smtp.gmail.com on 465 and 587.
    "outlook.lab.example": {587: HostService("outlook-like", "lab-ca")},
    "gmail.lab.example": {
        465: HostService("gmail-like", "lab-ca"),
        587: HostService("gmail-like", "lab-ca"),
    },
    "exchange.lab.example": {587: HostService("exchange-like", "lab-ca")},
    "slow.lab.example": {
        25: HostService("relay", "lab-ca", behaviour="slow"),
        587: HostService("submission", "lab-ca", behaviour="slow"),
    },
}

_CORE_HOSTS: Final = (
    "mx.lab.example",
    "smtp.lab.example",
    "legacy.lab.example",
    "expired.lab.example",
    "selfsigned.lab.example",
    "wronghost.lab.example",
)


#: The hosts whose logins are the lesson: OAuth only, and the three provider-like ones.
_LOGIN_HOSTS: Final = (
    "oauth.lab.example",
    "outlook.lab.example",
    "gmail.lab.example",
    "exchange.lab.example",
)

#: Profiles whose servers take OAuth tokens from the lab's authorization server.
TOKEN_PROFILES: Final = ("submission-oauth", "outlook-like", "gmail-like", "exchange-like")


@dataclass(frozen=True)
class Scenario:
    """A network between the learner and the lab's hosts."""

    name: str
    #: A paragraph a teacher can read aloud: what is blocked, and which real situation it mimics.
    paragraph: str
    #: What the network does to each port, for every host: open, refused, filtered, intercept
    #: or strip (relay to the real server, masking STARTTLS).
    network: Mapping[int, str]
    hosts: tuple[str, ...] = _CORE_HOSTS

    def behaviour_on(self, port: int) -> str:
        """What this network does to connections to ``port``."""
        return self.network.get(port, "open")


_SCENARIO_LIST: Final = (
    Scenario(
        "open-internet",
        "Nothing stands between you and the mail servers: every port gets through. This is a "
        "server in a data centre with no outbound firewall, or the internet as the SMTP "
        "standards imagine it. Port 25 reaches the relay mx.lab.example, and ports 587, 2525 and "
        "465 reach the submission server smtp.lab.example, which wants a password. Start here to "
        "see what each port is for before any network gets in the way. Beside them, "
        "oauth.lab.example on 587 takes only OAuth tokens and offers no password mechanism at "
        "all, so a password is never even sent there; the lab's own OAuth server issues the "
        "tokens (lab.oauth). Real providers refuse passwords later, and three hosts here answer "
        "as they do: outlook.lab.example lists AUTH LOGIN XOAUTH2 and answers the password with "
        "'535 5.7.139', gmail.lab.example with '534-5.7.9' (it takes lab.app_password), and "
        "exchange.lab.example with '550 5.7.30' (see provider_logins.csv); all three take a lab "
        "token. Read the 5.7.x reply, not the AUTH line.",
        {},
        hosts=(*_CORE_HOSTS, *_LOGIN_HOSTS),
    ),
    Scenario(
        "home-isp",
        "You are at home, behind an invented consumer broadband provider that silently drops "
        "every outgoing connection to port 25, so that an infected home computer cannot send spam "
        "straight to other people's mail servers. Real networks block port 25 for that reason too: "
        "RFC 6409 (section 1) says that because of machines with malicious software 'that "
        "generate large amounts of spam, many sites now prohibit outbound traffic on the standard "
        "SMTP port (port 25)'. A connection to port 25 just hangs until it times out: that is "
        "'filtered'. Ports 587, 465 and 2525 get through, so a mail program that submits mail "
        "with a password still works.",
        {25: "filtered"},
    ),
    Scenario(
        "cloud-vm",
        "You are on a fresh virtual machine at an invented cloud provider that drops outgoing "
        "packets to port 25, so connections to 25 time out, as they do on Google Cloud. Every "
        "cloud in the course's table (cloud_port25_policies.csv: AWS, Azure, Google Cloud, "
        "DigitalOcean, Linode, Hetzner, Vultr, Oracle) blocks or restricts outgoing port 25 in "
        "its own way: by default, for new accounts or tenancies, or for some subscription types. "
        "Everything else is open here: you submit mail to a mail provider on 587 or 465, or ask "
        "the cloud to lift the block. On a real cloud check its row first: Hetzner blocks 465 as "
        "well, and Linode restricts 465 and 587 for some new accounts.",
        {25: "filtered"},
    ),
    Scenario(
        "strict-firewall",
        "You are on a locked-down corporate or campus network. Its firewall drops everything that "
        "is not on its short allow list, and the only mail port on that list is 465, the "
        "implicit-TLS submission port. Ports 25, 587 and 2525 all time out. This network is "
        "invented for the lab: real networks differ (Hetzner's cloud blocks 465, for one; see "
        "cloud_port25_policies.csv), so a mail program should know both submission ports. RFC "
        "8314's reasons for preferring implicit TLS are its own (its section 3 and Appendix A), "
        "not firewalls.",
        {25: "filtered", 587: "filtered", 2525: "filtered"},
    ),
    Scenario(
        "hotel-wifi",
        "You are on a hotel's guest Wi-Fi, on an invented network. Its gateway grabs every "
        "connection to port 25 and answers itself, with the greeting of the hotel's own mail "
        f"filter, {INTERCEPT_NAME}, whatever server you asked for: the greeting's host name is "
        "what gives the interception away. Port 587 is silently dropped, so it times out. Ports "
        "465 and 2525 get through untouched.",
        {25: "intercept", 587: "filtered"},
    ),
    Scenario(
        "campus-dpi",
        "You are on a campus network whose firewall inspects SMTP. It lets connections to 25, "
        "587 and 2525 reach the real server, but rewrites the server's EHLO reply on the way: "
        "where the server offers STARTTLS, this invented firewall writes XXXXXXXA instead. A mail "
        "program then never starts TLS, and would send its password in cleartext: a STARTTLS "
        "stripping attack, whoever does it. Port 465 speaks TLS from the first byte, so there is "
        "nothing in cleartext for the firewall to rewrite.",
        {25: "strip", 587: "strip", 2525: "strip"},
    ),
    Scenario(
        "hosting-provider",
        "You are on a web-hosting provider's server, on an invented network whose firewall "
        "rejects outgoing port 25 at once, so port 25 is 'refused' straight away instead of "
        "timing out. A firewall can block by rejecting or by dropping; the article this course "
        "grew from runs on Google Cloud, whose port-25 block is a timeout (see cloud-vm). Ports "
        "587, 465 and 2525 are open, and this provider's advice is to submit mail on one of them "
        "with a password.",
        {25: "refused"},
    ),
    Scenario(
        "classroom",
        "The whole zoo on one open network, for a demonstration from the projector. Next to the "
        "usual relay, submission server, legacy server and the three broken certificates, two "
        "extra hosts misbehave on ports 25 and 587: tarpit.lab.example accepts the connection and "
        "never says a word ('silent'), and slow.lab.example waits two seconds before it greets, "
        "so a probe with a short timeout calls it silent and a patient one calls it open.",
        {},
        hosts=(*_CORE_HOSTS, "tarpit.lab.example", "slow.lab.example"),
    ),
)

#: Every scenario by name, in teaching order.
SCENARIOS: Final[Mapping[str, Scenario]] = {s.name: s for s in _SCENARIO_LIST}
DEFAULT_SCENARIO: Final = "open-internet"


@dataclass(frozen=True)
class EndpointPlan:
    """What a learner meets at one logical host and port in one scenario."""

    host: str
    port: int
    #: The server profile that answers (see PROFILES), or None if nothing answers.
    profile: str | None
    #: One of BEHAVIOURS.
    behaviour: str
    #: The certificate presented, or None when the endpoint speaks no TLS.
    certificate: str | None
    #: True when the server speaks TLS from the first byte (implicit TLS).
    implicit_tls: bool
    #: One sentence for a learner.
    description: str

    @property
    def expected(self) -> str:
        """The outcome word a probe should report here (given a timeout longer than 2 s)."""
        return EXPECTED_OUTCOME[self.behaviour]

    @property
    def listens(self) -> bool:
        """True when the lab runs a server (any server) behind this endpoint."""
        return self.behaviour in ("open", "silent", "slow", "intercept", "strip")


_CERT_WORDS: Final = {
    "expired": "its certificate expired on 1 January 2020",
    "self-signed": "its certificate is self-signed, so no trusted CA vouches for it",
    "wrong-host": "its certificate was issued to another name (mail.other.example)",
}


def _describe(host: str, port: int, service: HostService | None, behaviour: str) -> str:
    if behaviour == "filtered":
        behind = f"a {service.profile} server" if service else "nothing"
        return (
            f"The network silently drops connections to port {port}, so they time out "
            f"(behind the firewall: {behind})."
        )
    if behaviour == "refused":
        if service is None:
            return f"Nothing listens on port {port} of {host}: the connection is refused at once."
        return (
            f"The network rejects connections to port {port} at once (a REJECT rule), so they are "
            "refused even though a server listens behind it."
        )
    if behaviour == "strip":
        assert service is not None
        return (
            f"A {service.profile} server behind a firewall that masks STARTTLS as XXXXXXXA in "
            "its EHLO reply: the connection stays in cleartext."
        )
    if behaviour == "intercept":
        return (
            f"The network grabs port {port} and answers itself: the greeting comes from "
            f"{INTERCEPT_NAME}, not from {host}."
        )
    assert service is not None
    if behaviour == "silent":
        return "A tarpit: the connection opens, but the server never says a word."
    if behaviour == "slow":
        return (
            f"A {service.profile} server that waits two seconds before its greeting, as some "
            "anti-spam tarpits do."
        )
    text = {
        "relay": "The lab's MX: a relay that accepts mail for lab.example only, with STARTTLS "
        "and no AUTH.",
        "submission": "Mail submission: STARTTLS first, then AUTH PLAIN or LOGIN, then mail "
        "to anywhere.",
        "submission-implicit": "Implicit-TLS submission (RFC 8314): TLS from the first byte, "
        "then AUTH.",
        "legacy": "An old server that offers AUTH PLAIN and LOGIN in cleartext, without STARTTLS.",
        "submission-oauth": "OAuth-only submission: STARTTLS first, then AUTH XOAUTH2 or "
        "OAUTHBEARER with a token from the lab's OAuth server; no password mechanism is "
        "offered, so a password will not work here (it is never even sent).",
        "outlook-like": "Answers like Outlook.com: STARTTLS, then AUTH LOGIN or XOAUTH2; the "
        "password is refused with 535 5.7.139 (basic authentication is disabled), a lab token "
        "works.",
        "gmail-like": "Answers like Gmail: the account password gets 534-5.7.9 (application-"
        "specific password required); the lab's app password or a lab token works.",
        "exchange-like": "Answers like Exchange Online: any password gets 550 5.7.30 (Basic "
        "authentication is not supported for Client Submission); a lab token works.",
    }[service.profile]
    if service.profile == "gmail-like" and port == 465:
        text = "Implicit TLS from the first byte, then " + text[0].lower() + text[1:]
    if port == 2525 and service.profile == "submission":
        text = (
            "The unofficial twin of 587: the same submission server, for networks that block 587."
        )
    if service.certificate in _CERT_WORDS:
        text = text.rstrip(".") + f", but {_CERT_WORDS[service.certificate]}."
    return text


def plan(scenario: Scenario) -> list[EndpointPlan]:
    """Every (host, port) of ``scenario`` -- each host times the four ports -- as plans."""
    plans = []
    for host in scenario.hosts:
        for port in PORTS:
            network = scenario.behaviour_on(port)
            service = HOSTS[host].get(port)
            if network == "open" or (network == "strip" and service is None):
                behaviour = service.behaviour if service else "refused"
            else:
                behaviour = network
            if behaviour == "intercept":
                profile, cert = "intercept", None
            elif behaviour in ("filtered", "refused"):
                profile, cert = None, None
            else:
                assert service is not None
                profile, cert = service.profile, service.certificate
            plans.append(
                EndpointPlan(
                    host=host,
                    port=port,
                    profile=profile,
                    behaviour=behaviour,
                    certificate=cert,
                    implicit_tls=profile == "submission-implicit"
                    or (port == 465 and profile == "gmail-like"),
                    description=_describe(host, port, service, behaviour),
                )
            )
    return plans


def _check() -> None:
    for s in _SCENARIO_LIST:
        assert set(s.network.values()) <= set(_NETWORK_BEHAVIOURS), s.name
        assert set(s.hosts) <= set(HOSTS), s.name
    assert DEFAULT_SCENARIO in SCENARIOS


_check()
