"""The notifier as the Docker image runs it: a non-root user whose working directory belongs to
root. Its maildir there cannot be made; the notifier must say so on /readyz (503, with the
reason), log it once rather than on every try, and deliver, ready again, once the directory
is writable (in the image: the data volume owned by the user)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services.notifier.bootstrap import bootstrap
from services.notifier.store import NotifierUnitOfWork
from shared.database import open_database
from shared.runtime_tables import RuntimeTables
from tests.factories import order_placed
from tests.notifier_support import free_port
from tests.support import wait_until

NOBODY = 65534
ORDERFLOW = Path(sys.executable).with_name("orderflow")


@pytest.fixture
def layout() -> Iterator[Path]:
    """A directory every user may read: ``app`` (root's, or read-only when not root) and
    ``data`` (the worker user's), in /tmp, since pytest's own is private to its user."""
    base = Path(tempfile.mkdtemp(prefix="orderflow-layout-"))
    base.chmod(0o755)
    (base / "app").mkdir(mode=0o755)
    (base / "data").mkdir(mode=0o755)
    yield base
    shutil.rmtree(base)


def give_to_the_worker_user(path: Path) -> None:
    if os.geteuid() == 0:
        for each in [path, *path.rglob("*")]:
            os.chown(each, NOBODY, NOBODY)
    else:
        path.chmod(0o755)


def as_the_worker_user() -> list[str]:
    """Root runs the worker as nobody (``setpriv``, util-linux), as the image's USER does."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to become another user")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def pending_email(data: Path) -> None:
    """The notifier's database with one e-mail to send, as its handler leaves it."""
    service = bootstrap()
    RuntimeTables(service.metadata)
    sessions: sessionmaker[Session] = open_database(
        f"sqlite:///{data}/notifier.db", service.metadata
    )
    with sessions() as session, session.begin():
        uow = NotifierUnitOfWork(session)
        event = order_placed("ord-image")
        uow.preload([event])
        assert list(service.handlers[type(event)](event, uow)) == []
    sessions.kw["bind"].dispose()


def readyz(port: int) -> tuple[int, dict[str, str]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
    except OSError:
        return 0, {}


def test_an_unwritable_maildir_makes_the_notifier_unready_once_logged_until_it_is_writable(
    layout: Path,
) -> None:
    app, data = layout / "app", layout / "data"
    pending_email(data)
    give_to_the_worker_user(data)
    if os.geteuid() != 0:
        app.chmod(0o555)
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ORDERFLOW_BROKER_URL": "memory://",
        "ORDERFLOW_DATABASE_URL": f"sqlite:///{data}/{{worker}}.db",
        "ORDERFLOW_NOTIFIER_MAILDIR": str(app / "mail"),
        "ORDERFLOW_AFTER_COMMIT_PAUSE_SECONDS": "0.05",
        "ORDERFLOW_AFTER_COMMIT_PAUSE_MAX_SECONDS": "0.3",
        "ORDERFLOW_LOG_FORMAT": "json",
    }
    log = (layout / "notifier.log").open("w")
    worker = subprocess.Popen(
        [*as_the_worker_user(), str(ORDERFLOW), "worker", "notifier", "--metrics-port", str(port)],
        cwd=app,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_until(
            lambda: "e-mail" in readyz(port)[1].get("reason", ""),
            20,
            lambda: time.sleep(0.05),
            "unready for the e-mail",
        )
        assert readyz(port)[1] == {
            "status": "unavailable",
            "reason": "notifier: e-mail cannot go out: the maildir cannot be opened "
            "(PermissionError)",
        }
        time.sleep(1.5)  # some ten tries at the pauses set here
        assert readyz(port)[0] == 503

        give_to_the_worker_user(app)
        new = app / "mail" / "new"
        wait_until(lambda: new.is_dir() and any(new.iterdir()), 10, lambda: time.sleep(0.05))
        wait_until(lambda: readyz(port)[0] == 200, 10, lambda: time.sleep(0.05), "ready again")
    finally:
        worker.terminate()
        worker.wait(15)
        log.close()

    text = (layout / "notifier.log").read_text()
    outage = [line for line in map(json.loads, text.splitlines()) if line["level"] == "warning"]
    assert len(outage) == 2, text
    assert outage[0]["event"] == "after-commit work unavailable; unready, trying again with backoff"
    assert outage[0]["error"] == (
        "e-mail cannot go out: the maildir cannot be opened (PermissionError)"
    )
    assert (outage[1]["event"], outage[1]["worker"]) == ("after-commit work back", "notifier")
    assert worker.returncode == 0
