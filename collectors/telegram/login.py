"""``witnessbox telegram login``: create a Telethon StringSession interactively, print it once.

The session string is the account's key. It is printed once on standard output for the
operator to put into ``WITNESSBOX_TELEGRAM_SESSION`` (or the Airflow connection
``witnessbox_telegram``, extra ``{"session": "..."}``); it is never logged or written to a
file by witnessbox. The api hash is read from the environment or asked for without echo,
never taken as a command-line argument (arguments show in ``ps``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kernel.errors import ConfigError, InputError


@dataclass
class Prompts:
    """Where answers come from: the terminal by default, scripted in tests."""

    text: Callable[[str], str] = lambda prompt: input(prompt)
    secret: Callable[[str], str] = lambda prompt: getpass.getpass(prompt)


def _default_client(session: Any, api_id: int, api_hash: str) -> Any:
    from telethon import TelegramClient

    return TelegramClient(session, api_id, api_hash, receive_updates=False)


async def _login(
    api_id: int, api_hash: str, phone: str | None, prompts: Prompts, factory: Callable[..., Any]
) -> tuple[str, str]:
    from telethon.sessions import StringSession

    client = factory(StringSession(), api_id, api_hash)
    try:
        await client.start(
            phone=lambda: phone or prompts.text("Phone number (international format): "),
            code_callback=lambda: prompts.text("Login code sent by Telegram: "),
            password=lambda: prompts.secret("Two-step verification password: "),
        )
        me = await client.get_me()
        who = f"@{me.username}" if getattr(me, "username", None) else f"id {me.id}"
        return client.session.save(), who
    finally:
        await client.disconnect()


def create_session(
    api_id: str,
    api_hash: str,
    phone: str | None = None,
    prompts: Prompts | None = None,
    factory: Callable[..., Any] | None = None,
) -> tuple[str, str]:
    """(session string, who logged in). Errors never carry the hash or the session."""
    try:
        numeric_id = int(api_id)
    except ValueError:
        raise InputError("the api id is a number (from https://my.telegram.org)") from None
    if not api_hash:
        raise InputError("an api hash is needed (from https://my.telegram.org)")
    try:
        return asyncio.run(
            _login(numeric_id, api_hash, phone, prompts or Prompts(), factory or _default_client)
        )
    except (InputError, ConfigError, KeyboardInterrupt):
        raise
    except Exception as exc:
        raise ConfigError(f"Telegram login failed: {type(exc).__name__}") from None


# -- CLI ----------------------------------------------------------------------------------------
def register(sub: Any, common: argparse.ArgumentParser) -> None:
    telegram = sub.add_parser("telegram", parents=[common], help="Telegram account tools")
    tsub = telegram.add_subparsers(dest="telegram_command", metavar="ACTION")
    p = tsub.add_parser(
        "login",
        parents=[common],
        help="create a session string for api mode (printed once, never stored)",
    )
    p.add_argument("--api-id", help="default: WITNESSBOX_TELEGRAM_API_ID")
    p.add_argument("--phone", help="the account's phone number (asked when omitted)")
    p.set_defaults(handler=cmd_login)
    telegram.set_defaults(handler=lambda args, app: (telegram.print_help(), 2)[1])


def cmd_login(args: argparse.Namespace, app: Any, prompts: Prompts | None = None) -> int:
    prompts = prompts or Prompts()
    settings = app.settings
    api_id = args.api_id or settings.telegram_api_id or prompts.text("api id: ")
    api_hash = settings.telegram_api_hash or prompts.secret("api hash (not echoed): ")
    session, who = create_session(api_id, api_hash, args.phone, prompts)
    print(f"logged in as {who}", file=sys.stderr)
    print(
        "Keep this session string secret: it is the account's key. Put it in the environment\n"
        "(WITNESSBOX_TELEGRAM_SESSION) or the Airflow connection witnessbox_telegram\n"
        '(extra {"session": "..."}). witnessbox does not store it anywhere.',
        file=sys.stderr,
    )
    print(session, flush=True)
    return 0
