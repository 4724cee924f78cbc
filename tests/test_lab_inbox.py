"""The lab's inbox: the Received: trace line the lab adds, the bounded views, the widget and the
page (read in Debian's Chromium), and the lab folder that keeps the password."""

from __future__ import annotations

import datetime as _dt
import os
import re
import shutil
import smtplib
import stat
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

import smtplab.widgets as w
from smtplab.lab import Lab, LabFolder
from smtplab.lab.inbox import MAX_BODY_CHARS, inbox_view
from smtplab.lab.inbox_page import InboxServer
from smtplab.lab.servers import Message, Outbox

CHROMIUM = Path("/usr/bin/chromium")
SUBJECT = "Arrived from a learner"
# RFC 5321 4.4 Time-stamp-line, with RFC 3848's protocol and the TLS named in a comment.
RECEIVED = re.compile(
    r"^from \S+ \(\[127\.0\.0\.1\]\) by smtp\.lab\.example \(smtplab\) "
    r"with ESMTPSA \(TLS1\.[23] [A-Z0-9_-]+\) id [0-9A-F]+ for <friend@example\.org>; "
    r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$"
)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab("open-internet") as running:
        yield running


def get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def send_as_learner(lab: Lab, msg: EmailMessage, **kw: str) -> None:
    """A learner's own script: stdlib smtplib, STARTTLS on 587, the lab's credentials."""
    user, password = lab.credentials
    with lab.smtp("smtp.lab.example", 587, **kw) as client:
        client.starttls(context=lab.ssl_context())
        client.login(user, password)
        client.send_message(msg)


def test_a_learners_message_arrives_in_outbox_widget_and_page(lab: Lab) -> None:
    lab.clear_outbox()
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "student@lab.example", "friend@example.org", SUBJECT
    msg.set_content("Hello over TLS.")
    send_as_learner(lab, msg)
    [m] = lab.outbox
    assert m.tls and m.auth_user == "student" and m.port == 587
    # the lab added its trace line on top, naming ESMTPSA and the TLS version
    top = m.content.split(b"\r\n\r\n")[0].decode()
    assert top.startswith("Received: from client.lab.example ([127.0.0.1])\r\n\tby ")
    [view] = inbox_view(lab.outbox)
    assert RECEIVED.match(view.received[0]), view.received[0]
    assert view.headers[0][0] == "Received" and view.text == "Hello over TLS.\n"
    assert (view.mail_from, view.rcpt_tos) == ("student@lab.example", ("friend@example.org",))

    box = w.inbox(lab)
    shown = box.message_html.value
    assert SUBJECT in shown and "with ESMTPSA (TLS1." in shown and "Hello over TLS." in shown
    assert "&lt;student@lab.example&gt;" in shown  # MAIL FROM, from the envelope
    assert box.picker.value == m.id

    with InboxServer(lambda: lab.outbox) as page:
        status, listing, headers = get(page.url)
        assert status == 200 and SUBJECT in listing and f'href="/message/{m.id}"' in listing
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none'
        status, one, _ = get(f"{page.url}message/{m.id}")
        assert status == 200 and "with ESMTPSA (TLS1." in one and "Hello over TLS." in one
        assert get(f"{page.url}message/999999")[0] == 404
    box.close()


def test_refresh_shows_new_mail_newest_first(lab: Lab) -> None:
    lab.clear_outbox()
    box = w.inbox(lab)
    assert box.picker.options == () and "No mail yet" in box.message_html.value
    for n in (1, 2):
        msg = EmailMessage()
        msg["To"], msg["Subject"] = "friend@example.org", f"number {n}"
        msg.set_content("x")
        send_as_learner(lab, msg)
    assert box.picker.options == ()  # nothing changes until Refresh
    box.refresh_button.click()
    labels = [label for label, _ in box.picker.options]
    assert labels[0].endswith("number 2") and labels[1].endswith("number 1")
    assert "number 2" in box.message_html.value
    box.picker.value = box.picker.options[1][1]
    assert "number 1" in box.message_html.value
    box.close()


def test_received_line_names_what_was_used() -> None:
    """ESMTP without TLS or AUTH on the relay, SMTP after HELO, ESMTPSA on implicit TLS."""
    with Lab("open-internet") as lab:
        with smtplib.SMTP(*lab.address("mx.lab.example", 25), timeout=10) as c:
            c.ehlo("client.lab.example")
            c.sendmail("a@example.org", ["bob@lab.example"], b"Subject: plain\r\n\r\nx\r\n")
        with smtplib.SMTP(*lab.address("mx.lab.example", 25), timeout=10) as c:
            c.helo("old.client.example")
            c.sendmail("a@example.org", ["bob@lab.example"], b"Subject: helo\r\n\r\nx\r\n")
        user, password = lab.credentials
        with lab.smtp("smtp.lab.example", 465) as c:
            c.login(user, password)
            c.sendmail("s@lab.example", ["x@example.org", "y@example.org"], b"Subject: s\r\n\r\n")
        lines = [v.received[0] for v in reversed(inbox_view(lab.outbox))]
    assert " by mx.lab.example (smtplab) with ESMTP id " in lines[0] and "TLS" not in lines[0]
    assert lines[0].startswith("from client.lab.example ([127.0.0.1])")
    assert " with SMTP id " in lines[1] and "from old.client.example " in lines[1]
    assert re.search(r" with ESMTPSA \(TLS1\.[23] \S+\) id ", lines[2])
    assert " for <" not in lines[2]  # two recipients: RFC 5321 4.4 names none


def test_outbox_keeps_the_newest_and_numbers_them() -> None:
    box = Outbox(max_messages=3)
    now = _dt.datetime.now(_dt.timezone.utc)
    for n in range(5):
        box.append(
            Message(f"a{n}@x", ("b@x",), None, {}, "h", 25, False, None, 1, now, "h", b"\r\n")
        )
    assert [(m.id, m.mail_from) for m in box.snapshot()] == [(3, "a2@x"), (4, "a3@x"), (5, "a4@x")]


HOSTILE = '<img src=x onerror="document.title=1"><script>document.title=2</script>'


@pytest.mark.browser
def test_markup_and_script_in_every_field_stay_text_in_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists() and os.environ.get("SMTPLAB_REQUIRE_PEERS"):
        pytest.fail("Debian's chromium is missing")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed")
    evil_addr = '"' + HOSTILE.replace('"', "'") + '"@lab.example'
    with Lab("open-internet") as lab:
        msg = EmailMessage()
        msg["From"], msg["To"] = evil_addr, evil_addr
        msg["Subject"] = HOSTILE + "\x1b[2J\u202e"
        msg["X-Evil"] = HOSTILE
        msg.set_content(HOSTILE + "\n" + ("A" * 70 + "\n") * (MAX_BODY_CHARS // 60))
        msg.add_alternative(f"<html><body>{HOSTILE}</body></html>", subtype="html")
        msg.add_attachment(b"%PDF", maintype="application", subtype="pdf", filename=HOSTILE)
        user, password = lab.credentials
        with lab.smtp("smtp.lab.example", 587, local_hostname=HOSTILE.replace(" ", "")) as c:
            c.starttls(context=lab.ssl_context())
            c.login(user, password)
            c.send_message(msg, evil_addr, [evil_addr])
        [m] = lab.outbox
        with InboxServer(lambda: lab.outbox) as page:
            doms = []
            for url in (page.url, f"{page.url}message/{m.id}"):
                done = subprocess.run(
                    [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
                     "--virtual-time-budget=5000", "--dump-dom", url],
                    capture_output=True, text=True, timeout=120, check=False,
                )  # fmt: skip
                doms.append(done.stdout)
        widget_html = w.inbox(lab).message_html.value
    listing, one = doms
    assert "The lab's inbox" in listing and "1 message received" in listing, listing[-2000:]
    assert "Every header" in one, one[-2000:]
    for dom in (listing, one, widget_html):
        assert "<img" not in dom and "<script" not in dom  # no element was made from it
    assert "<title>smtplab lab inbox</title>" in listing  # no onerror or script ran
    assert "<title>message 1</title>" in one
    assert one.count("&lt;img src=x") >= 6  # subject, from, rcpt, header, text, html, file...
    assert "\\x1b[2J" in one and "\\u202e" in one and "\x1b" not in one  # controls made visible
    assert "(shown in part)" in one  # the long body was bounded
    assert len(one) < 3 * MAX_BODY_CHARS + 20_000


def test_inbox_page_serves_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        InboxServer(list, host="0.0.0.0")


def test_a_lab_folder_keeps_one_password_and_the_ca(tmp_path: Path) -> None:
    folder = tmp_path / "lab"
    with Lab("home-isp", folder=folder) as first:
        password = first.credentials[1]
        assert first.ca_path == folder / "lab-ca.pem"
        assert first.ca_path.read_text() == first.ca_pem
    assert Lab("home-isp", folder=folder).credentials == ("student", password)
    assert stat.S_IMODE((folder / "password").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert Lab().credentials[1] != Lab().credentials[1]  # without a folder: new every time
    (folder / "password").write_text("x")  # not a password: replaced
    assert LabFolder(folder).password() != "x"


#: A fresh process: start a lab with a folder; a mail program that trusts only the CA file a
#: learner was given (argv[2]; else the one the lab just wrote) tries STARTTLS on port 587.
#: Prints whether that verified, and whether the folder's CA file is the lab's CA.
_ONE_RUN = """
import smtplib, ssl, sys, smtplab
with smtplab.Lab("open-internet", folder=sys.argv[1]) as lab:
    ctx = ssl.create_default_context(cafile=sys.argv[2] if len(sys.argv) > 2 else lab.ca_path)
    host, port = lab.address("smtp.lab.example", 587)
    with smtplib.SMTP(host, port, timeout=10) as client:
        client._host = "smtp.lab.example"
        try:
            client.starttls(context=ctx)
            ok = True
        except ssl.SSLCertVerificationError:
            ok = False
    print(ok, lab.ca_path.read_text() == lab.ca_pem)
"""


def _lab_run(folder: Path, cafile: Path | None = None) -> list[str]:
    args = [sys.executable, "-c", _ONE_RUN, str(folder), *([str(cafile)] if cafile else [])]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.split()


def test_a_lab_folder_keeps_its_ca_from_one_run_to_the_next(tmp_path: Path) -> None:
    """The CA file a class was given last lesson verifies this lesson's lab (new processes);
    its key is kept with mode 0600. A CA file from another folder does not verify it."""
    folder = tmp_path / "lab"
    assert _lab_run(folder) == ["True", "True"]
    given = tmp_path / "given-last-week.pem"
    shutil.copy(folder / "lab-ca.pem", given)
    assert stat.S_IMODE((folder / "lab-ca.key").stat().st_mode) == 0o600
    assert _lab_run(folder, given) == ["True", "True"]
    assert (folder / "lab-ca.pem").read_bytes() == given.read_bytes()
    assert _lab_run(tmp_path / "other", given) == ["False", "True"]


@pytest.mark.parametrize("spoil", ["garbage", "other-key", "loose-mode", "expiring"])
def test_a_kept_ca_that_cannot_be_trusted_is_replaced(tmp_path: Path, spoil: str) -> None:
    """A kept CA that is unreadable, does not match its key, has a key others may read, or is
    about to end, is replaced by a new one: the lab still starts and verifies with it."""
    folder = tmp_path / "lab"
    _lab_run(folder)
    key = folder / "lab-ca.key"
    before = (folder / "lab-ca.pem").read_bytes()
    if spoil == "garbage":
        (folder / "lab-ca.pem").write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
    elif spoil == "other-key":
        other = tmp_path / "other"
        _lab_run(other)
        shutil.copy(other / "lab-ca.key", key)
        os.chmod(key, 0o600)
    elif spoil == "loose-mode":
        os.chmod(key, 0o644)
    else:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization

        from smtplab.lab import certs

        cert = x509.load_pem_x509_certificate(before)
        signer = serialization.load_pem_private_key(key.read_bytes(), password=None)
        soon = certs._now() + _dt.timedelta(days=10)
        short = (
            x509.CertificateBuilder(extensions=list(cert.extensions))
            .subject_name(cert.subject).issuer_name(cert.issuer).public_key(cert.public_key())
            .serial_number(cert.serial_number).not_valid_before(cert.not_valid_before_utc)
            .not_valid_after(soon)
            .sign(signer, hashes.SHA256())  # type: ignore[arg-type]
        )  # fmt: skip
        (folder / "lab-ca.pem").write_bytes(short.public_bytes(serialization.Encoding.PEM))
    assert _lab_run(folder) == ["True", "True"]
    assert (folder / "lab-ca.pem").read_bytes() != before
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_the_lab_command_says_what_it_cannot_do(tmp_path: Path) -> None:
    """A folder it cannot write, a port already taken: one line each, status 2, no traceback."""
    import socket
    import sys

    cmd = [sys.executable, "-m", "smtplab", "lab", "--scenario", "home-isp"]
    bad = subprocess.run(
        [*cmd, "--dir", "/proc/no-such-folder"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "cannot keep the lab's password in /proc/no-such-folder" in bad.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [*cmd, "--dir", str(tmp_path), "--inbox", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert busy.returncode == 2 and "Traceback" not in busy.stderr
    assert f"cannot serve the inbox page on port {port}" in busy.stderr
