"""Start one Airflow Celery worker for witnessbox: the broker checked first, logs on one address.

``python -m witnessbox_airflow.celery_worker [--name N] [--address A] [--queues Q,...]``

``airflow celery worker`` facing a Redis that is down, or that refuses its password, logs
a traceback per retry and never exits; this launcher pings the broker first and ends in
one line (``error: ...``, exit 2). Airflow's own log server binds every interface; here
the worker runs with ``--skip-serve-logs`` and the same log app is served on ``--address``
only (default 127.0.0.1), which the worker's task instances record as their hostname
(``[core] hostname_callable``), so the API server fetches a task's log from the worker
that ran it. Without ``--queues`` a worker listens on Airflow's default queue, the web and
video capture queues, and the Telegram queue only when this worker holds a Telegram
session (``WITNESSBOX_TELEGRAM_SESSION``): see ``kinds.queue_for``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from kernel.errors import ConfigError
from witnessbox_airflow.kinds import KINDS, queue_for
from witnessbox_airflow.local_service import airflow_bin

HOSTNAME_CALLABLE = "witnessbox_airflow.celery_worker.advertised_hostname"
ADDRESS_ENV = "WITNESSBOX_WORKER_ADDRESS"
BROKER_ENV = "AIRFLOW__CELERY__BROKER_URL"
DEFAULT_QUEUE = "default"  # Airflow's [operators] default_queue: the DAGs' other tasks


def advertised_hostname() -> str:
    """What this worker's task instances record as their host (Airflow's hostname_callable)."""
    return os.environ.get(ADDRESS_ENV) or socket.getfqdn()


def default_queues(env: Mapping[str, str]) -> list[str]:
    """Airflow's default queue and each kind's capture queue this worker can serve."""
    kinds = [k for k in KINDS if k != "telegram" or env.get("WITNESSBOX_TELEGRAM_SESSION")]
    return [env.get("AIRFLOW__OPERATORS__DEFAULT_QUEUE", DEFAULT_QUEUE),
            *(queue_for(k, env) for k in kinds)]


def redact(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def check_broker(url: str, timeout: float = 5.0) -> None:
    """Raise ``ConfigError`` (one line) unless the Redis broker answers PING with our password."""
    scheme = urlsplit(url).scheme
    if scheme not in {"redis", "rediss"}:
        raise ConfigError(f"unsupported Celery broker {redact(url)}: witnessbox runs on Redis")
    import redis  # celery[redis]'s client; only the launcher needs it

    client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        client.ping()
    except redis.AuthenticationError:
        if urlsplit(url).password is None:
            raise ConfigError(f"Celery broker {redact(url)} needs a password "
                              "(redis://:PASSWORD@HOST:PORT/0)") from None
        raise ConfigError(f"Celery broker {redact(url)} refused the password") from None
    except redis.ResponseError as exc:
        raise ConfigError(f"Celery broker {redact(url)} refused the connection: {exc}") from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        raise ConfigError(f"Celery broker {redact(url)} is unreachable: {exc}") from None
    finally:
        client.close()


def worker_env(env: Mapping[str, str], address: str) -> dict[str, str]:
    out = dict(env)
    out[ADDRESS_ENV] = address
    out.setdefault("AIRFLOW__CORE__HOSTNAME_CALLABLE", HOSTNAME_CALLABLE)
    return out


def commands(args: argparse.Namespace, env: Mapping[str, str]) -> list[list[str]]:
    """The worker, and (unless ``--no-log-server``) its log server on ``--address``."""
    queues = args.queues or ",".join(default_queues(env))
    worker = [airflow_bin(), "celery", "worker", "--skip-serve-logs", "--queues", queues,
              "--concurrency", str(args.concurrency), "--celery-hostname",
              f"{args.name}@{args.address}"]
    if args.no_log_server:
        return [worker]
    port = env.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "8793")
    logs = [sys.executable, "-m", "uvicorn", "--factory",
            "airflow.utils.serve_logs.log_server:get_app", "--host", args.log_host or args.address,
            "--port", port, "--no-access-log", "--log-level", "warning"]
    return [worker, logs]


def run(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m witnessbox_airflow.celery_worker")
    parser.add_argument("--name", default="witnessbox", help="Celery name (NAME@ADDRESS)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="the address this worker's log server binds and advertises")
    parser.add_argument("--log-host", help="bind the log server here instead (e.g. 0.0.0.0)")
    parser.add_argument("--queues", help="comma-separated (default: what this worker can serve)")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--no-log-server", action="store_true")
    args = parser.parse_args(argv)
    env = worker_env(os.environ if env is None else env, args.address)
    url = env.get(BROKER_ENV)
    indirect = any(env.get(BROKER_ENV + suffix) for suffix in ("_CMD", "_SECRET"))
    if url:
        check_broker(url)
    elif not indirect:  # from a command or a secrets backend: Airflow resolves it itself
        raise ConfigError(f"no Celery broker: set {BROKER_ENV} (redis://:PASSWORD@HOST:PORT/0)")
    procs = [subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
             for cmd in reversed(commands(args, env))]  # the log server first
    worker = procs[-1]

    def forward(_signum: int, _frame: object) -> None:
        # SIGTERM is Celery's warm shutdown however often it comes (a second SIGINT would be
        # a cold one, and a SIGINT to the process group reaches the worker directly too)
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    code = worker.wait()
    for proc in procs[:-1]:
        if proc.poll() is None:
            proc.terminate()
        proc.wait()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
