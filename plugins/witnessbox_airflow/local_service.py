"""Run Airflow's parts on loopback: what ``make airflow`` and the end-to-end tests start.

``airflow standalone`` opens its log servers on every interface, so the parts run one by
one instead: ``api-server --host 127.0.0.1``, ``scheduler --skip-serve-logs``,
``dag-processor`` and ``triggerer --skip-serve-logs`` (LocalExecutor workers write their
logs to ``$AIRFLOW_HOME/logs``, which the API server reads directly). Each part runs in its
own session and is stopped with SIGINT to its process group, so no worker is orphaned.

Nothing here imports Airflow: the parts are subprocesses of the ``airflow`` command that
sits next to this interpreter.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from witnessbox_airflow.kinds import POOLS

#: witnessbox's three roles as SimpleAuthManager roles: analysts add and pause sources
#: (USER), operators also run the platform (OP), admins remove sources and audit (ADMIN).
ROLE_USERS: dict[str, str] = {"admin": "admin", "operator": "op", "analyst": "user"}
SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
#: How each part is started; other executors add theirs (e.g. a Celery worker).
COMPONENTS: dict[str, Callable[[AirflowService], list[str]]] = {
    "api-server": lambda s: ["api-server", "--host", "127.0.0.1", "--port", str(s.port)],
    "scheduler": lambda s: ["scheduler", "--skip-serve-logs"],
    "dag-processor": lambda s: ["dag-processor"],
    "triggerer": lambda s: ["triggerer", "--skip-serve-logs"],
}
DEFAULT_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
#: what /api/v2/monitor/health calls each part
HEALTH_NAMES = {
    "scheduler": "scheduler",
    "dag-processor": "dag_processor",
    "triggerer": "triggerer",
}


def airflow_bin() -> str:
    return str(Path(sys.executable).with_name("airflow"))


def _secret(home: Path, name: str) -> str:
    """A random secret kept in AIRFLOW_HOME, so every part and every restart agree."""
    path = home / name
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_env(
    home: Path,
    port: int,
    *,
    dags_folder: Path,
    users: Mapping[str, str] = ROLE_USERS,
    base: Mapping[str, str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment every part shares: loopback URLs, SQLite, LocalExecutor, users."""
    home = Path(home).absolute()
    home.mkdir(parents=True, exist_ok=True)
    (home / "plugins").mkdir(exist_ok=True)  # empty: the plugin is an installed package
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folder).absolute()),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(home / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__API__BASE_URL": url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret(home, ".jwt_secret"),
            "AIRFLOW__API__SECRET_KEY": _secret(home, ".api_secret"),
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                f"{name}:{role}" for name, role in users.items()
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        }
    )
    env.update(extra or {})
    return env


def ensure_passwords(home: Path, users: Iterable[str]) -> dict[str, str]:
    """Generate a password for every user that has none yet; return only the new ones."""
    path = Path(home) / "passwords.json"
    known: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
    new = {u: secrets.token_urlsafe(12) for u in users if u not in known}
    if new:
        known.update(new)
        path.write_text(json.dumps(known, indent=2))
        path.chmod(0o600)
    return new


def run_airflow(env: Mapping[str, str], *args: str, timeout: float = 600) -> str:
    """One ``airflow`` command; its output, or a one-line error naming what failed."""
    proc = subprocess.run(
        [airflow_bin(), *args], env=dict(env), capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise RuntimeError(f"airflow {' '.join(args)} failed: {' | '.join(tail)}")
    return proc.stdout


def init_witnessbox(env: Mapping[str, str]) -> None:
    """``witnessbox init`` once before any task: the catalogue is migrated by one process,
    not raced by the first tasks of five DAGs starting together."""
    witnessbox = str(Path(sys.executable).with_name("witnessbox"))
    proc = subprocess.run(
        [witnessbox, "init"], env=dict(env), capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise RuntimeError(f"witnessbox init failed: {proc.stderr.strip()[-500:]}")


def prepare(env: Mapping[str, str]) -> None:
    """Migrate the metadata database, create the witnessbox pools, run ``witnessbox init``
    (all idempotent)."""
    init_witnessbox(env)
    run_airflow(env, "db", "migrate")
    pools = {name: {"slots": slots, "description": what} for name, slots, what in POOLS.values()}
    pools_file = Path(env["AIRFLOW_HOME"]) / "witnessbox-pools.json"
    pools_file.write_text(json.dumps(pools, indent=2))
    run_airflow(env, "pools", "import", str(pools_file))


@dataclass
class AirflowService:
    """Airflow's parts as child processes; ``stop`` is safe to call more than once."""

    env: dict[str, str]
    port: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, IO[bytes]] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_path(self, component: str) -> Path:
        return self.home / "logs" / f"{component}.out"

    def start(self, components: Iterable[str] = DEFAULT_COMPONENTS) -> AirflowService:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        for name in components:
            if name in self.procs:
                continue
            out = open(self.log_path(name), "ab")  # closed in stop()
            self.logs[name] = out
            self.procs[name] = subprocess.Popen(
                [airflow_bin(), *COMPONENTS[name](self)],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group: SIGINT reaches its workers
                preexec_fn=_default_signals,
            )
        return self

    def health(self) -> dict[str, Any]:
        health = f"{self.url}/api/v2/monitor/health"  # always http://127.0.0.1
        with urllib.request.urlopen(health, timeout=5) as resp:  # noqa: S310
            return json.loads(resp.read())

    def wait_ready(self, timeout: float = 180) -> None:
        """Until the API answers and every started part reports healthy."""
        deadline = time.monotonic() + timeout
        wanted = [HEALTH_NAMES[n] for n in self.procs if n in HEALTH_NAMES]
        last: Any = None
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    code = proc.returncode
                    raise RuntimeError(f"airflow {name} exited ({code}): {self.tail(name)}")
            try:
                last = self.health()
                if all(last.get(n, {}).get("status") == "healthy" for n in wanted):
                    return
            except (OSError, urllib.error.URLError, ValueError) as exc:
                last = exc
            time.sleep(1)
        raise TimeoutError(f"Airflow not ready after {timeout:.0f} s: {last}")

    def tail(self, component: str, lines: int = 15) -> str:
        path = self.log_path(component)
        if not path.is_file():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        """SIGINT each part's group (the api-server last), then SIGTERM, then SIGKILL."""
        order = sorted(self.procs, key=lambda n: n == "api-server")
        for sig, grace in ((signal.SIGINT, timeout), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            alive = [n for n in order if self.procs[n].poll() is None]
            if not alive:
                break
            for name in alive:
                try:
                    os.killpg(self.procs[name].pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            for name in alive:
                try:
                    self.procs[name].wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for proc in self.procs.values():
            _reap_group(proc.pid)
        for out in self.logs.values():
            out.close()
        self.procs.clear()
        self.logs.clear()


def _default_signals() -> None:
    """A launcher started in the background ignores SIGINT; its parts must not inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _reap_group(pgid: int, grace: float = 5) -> None:
    """Children a part leaves behind in its group get ``grace`` seconds, then SIGKILL."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
