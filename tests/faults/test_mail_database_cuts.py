"""The notifier's database links cut again and again while e-mails flow, with no crash: every
connection of the notifier's database is terminated on the server (``pg_terminate_backend``, as
a failover or a restart would end them; the shared server itself keeps running). A mark that
cannot be committed is kept by the courier and made first when the database answers, before it
claims or sends anything else, so no e-mail arrives twice at the mail server.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

from shared.settings import Settings
from tests.faults.harness import running
from tests.support import wait_until

ORDERS = 150
CUTS = 15
KEPT_FOR_LATER = "recorded when the database answers"  # the courier's warning


def test_cutting_the_notifiers_database_links_sends_no_email_twice(
    settings: Settings, tmp_path: Path
) -> None:
    notifier_db = make_url(settings.database_url_for("notifier"))
    admin = create_engine(notifier_db.set(database="postgres"), isolation_level="AUTOCOMMIT")
    cuts = 0
    try:
        with running(settings, tmp_path) as run:
            run.mail.answer_after = 0.02  # so that most cuts fall while the courier sends
            run.submit(ORDERS)
            wait_until(lambda: len(run.mail.received) >= 10, 60, what="e-mails flowing")
            while cuts < CUTS and (run.terminal() < ORDERS or run.unsent_mail()):
                with admin.connect() as connection:
                    ended = connection.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE datname = :name AND pid <> pg_backend_pid()"
                        ),
                        {"name": notifier_db.database},
                    ).scalar()
                cuts += bool(ended)
                time.sleep(0.8)  # time to recover: most cuts then fall while it sends
            run.wait_all_terminal(120)

            run.verdict(repeats_allowed=0)
    finally:
        admin.dispose()

    kept = (tmp_path / "logs" / "notifier-0.log").read_text().count(KEPT_FOR_LATER)
    print(f"\n{cuts} cuts; {kept} e-mails recorded after the database answered again")
    assert cuts >= 5, f"only {cuts} cuts while e-mails flowed"
    assert kept >= 2, f"{kept} cuts fell between a send and its mark: too few to prove much"
