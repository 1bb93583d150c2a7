"""Tell someone when custody breaks: the ``on_failure_callback`` of the audit DAG.

Settings (environment ``WITNESSBOX_*`` or Airflow variables ``witnessbox_*``):

- ``notifier``: ``smtp`` (e-mail through the Airflow SMTP connection ``smtp_default``) or
  the dotted path of any Airflow notifier class (``package.module.Class`` or
  ``package.module:Class``), e.g. ``airflow.providers.slack.notifications.slack.SlackNotifier``;
- ``notify_to``: comma-separated e-mail addresses for ``smtp``;
- ``notifier_args``: a JSON object of keyword arguments for the class.

Without a notifier the failure is only in the task log, the ledger and the Audit page.
"""

from __future__ import annotations

import importlib
import json
import logging
from typing import Any

log = logging.getLogger("witnessbox.airflow.notify")
SMTP_CLASS = "airflow.providers.smtp.notifications.smtp.SmtpNotifier"


def _load(path: str) -> Any:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def message(context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body naming the DAG, the run and what failed."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", "?")
    run_id = getattr(ti, "run_id", "?")
    error = context.get("exception")
    subject = f"[witnessbox] {dag_id} failed: {str(error)[:120] if error else 'see the log'}"
    body = (
        f"DAG {dag_id}, run {run_id}, task {getattr(ti, 'task_id', '?')} failed.\n"
        f"{error or ''}\n\nThe custody ledger and the witnessbox Audit page name every "
        "damaged object."
    )
    return subject, body


def build_notifier(settings: Any, context: dict[str, Any]) -> Any | None:
    name = (settings.notifier or "").strip()
    if not name:
        return None
    try:
        kwargs = json.loads(settings.notifier_args) if settings.notifier_args else {}
    except ValueError as exc:
        raise ValueError(f"notifier_args is not a JSON object: {exc}") from None
    subject, body = message(context)
    if name == "smtp":
        to = [a.strip() for a in settings.notify_to.split(",") if a.strip()]
        if not to:
            raise ValueError("notifier smtp needs notify_to (e-mail addresses)")
        kwargs = {
            "to": to,
            "subject": subject,
            "html_content": body.replace("\n", "<br>"),
            **kwargs,
        }
        return _load(SMTP_CLASS)(**kwargs)
    cls = _load(name)
    params = _init_params(cls)
    if "subject" in params:
        kwargs.setdefault("subject", subject)
    if "text" in params:
        kwargs.setdefault("text", body)
    return cls(**kwargs)


def _init_params(cls: Any) -> set[str]:
    import inspect

    try:
        return set(inspect.signature(cls.__init__).parameters)
    except (ValueError, TypeError):
        return set()


def on_failure(context: dict[str, Any]) -> None:
    """The callback: build the configured notifier and send; never raise from here."""
    from witnessbox_airflow.hooks import WitnessboxHook

    try:
        notifier = build_notifier(WitnessboxHook().settings(), context)
        if notifier is None:
            log.info("no notifier configured (setting witnessbox_notifier)")
            return
        notifier(context)
        log.info("notified through %s", type(notifier).__name__)
    except Exception as exc:  # a broken notifier must not hide the audit's own failure
        log.error("notifier failed: %s: %s", type(exc).__name__, exc)
