"""Shared fixtures: real servers on loopback, and the rule that tests never leave it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import Certs, ServerThread  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("SMTPLAB_LIVE") == "1":
        return
    skip = pytest.mark.skip(reason="talks to hosts beyond loopback; set SMTPLAB_LIVE=1 to run")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def certs() -> Certs:
    return Certs()


@pytest.fixture(scope="session")
def servers() -> Iterator[ServerThread]:
    st = ServerThread()
    yield st
    st.stop()
