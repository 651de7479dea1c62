"""``orderflow topology``: the broker's side of orderflow, written from the code."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from .support import console, fail, load_settings

topology_app = typer.Typer(no_args_is_help=True, help="The broker's topology, users and rights.")


@topology_app.command("export")
def topology_export(
    vhost: Annotated[str, typer.Option(help="The vhost to define and grant.")] = "orderflow",
    channels: Annotated[
        str | None,
        typer.Option(help="Comma-separated sales channels (default: ORDERFLOW_CHANNELS)."),
    ] = None,
    passwords: Annotated[
        Path | None,
        typer.Option(
            help="Directory of one file per broker user, named after it, holding its password "
            "(else ORDERFLOW_BROKER_PASSWORD_<USER> from the environment)."
        ),
    ] = None,
    generate_passwords: Annotated[
        bool,
        typer.Option(help="Write a random password into --passwords for each user lacking one."),
    ] = False,
    no_passwords: Annotated[
        bool,
        typer.Option(
            help="Define the users without a password (set one later: rabbitmqctl change_password)."
        ),
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (mode 0600), not to stdout.")
    ] = None,
) -> None:
    """RabbitMQ definitions: vhost, exchanges, quorum queues, bindings, one user per worker,
    per channel and for the operator, their permissions and topic permissions."""
    from pydantic import ValidationError

    from shared.envelope import describe
    from shared.settings import Settings

    from ..export.definitions import MissingPasswords, Passwords, definitions

    settings = load_settings()
    if channels is not None:
        try:
            settings = Settings.model_validate(
                {
                    **settings.model_dump(),
                    "channels": [c.strip() for c in channels.split(",") if c.strip()],
                }
            )
        except ValidationError as error:
            raise fail(f"--channels: {describe(error)}") from None
    if no_passwords and (passwords or generate_passwords):
        raise fail("--no-passwords: cannot go with --passwords or --generate-passwords")
    if generate_passwords and passwords is None:
        raise fail("--generate-passwords: needs a --passwords directory to write them into")
    from ..cluster.users import broker_users

    found = None
    if not no_passwords:
        try:
            source = Passwords(passwords, generate=generate_passwords)
            found = source.of(user.name for user in broker_users(settings))
        except MissingPasswords as error:
            raise fail(str(error)) from None
    text = json.dumps(definitions(settings, vhost, found), indent=2) + "\n"
    if output is None:
        print(text, end="")
        return
    output.touch(mode=0o600)
    os.chmod(output, 0o600)
    output.write_text(text)
    console.print(f"wrote {output}", highlight=False, soft_wrap=True)
