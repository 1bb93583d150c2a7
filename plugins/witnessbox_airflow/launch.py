"""``make airflow``: Airflow with the witnessbox DAGs and pages on 127.0.0.1, until Ctrl-C.

Environment: ``AIRFLOW_PORT`` (default 8080), ``AIRFLOW_HOME`` (default ``./airflow-home``),
``WITNESSBOX_HOME`` (default ``./witnessbox-data``). Users ``admin``, ``operator`` and
``analyst`` get generated passwords, printed the first time only (they stay in
``$AIRFLOW_HOME/passwords.json``, readable by you alone).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from witnessbox_airflow.local_service import (
    ROLE_USERS,
    AirflowService,
    airflow_env,
    ensure_passwords,
    prepare,
)

#: the checkout this package runs from (editable install), else the current directory
_HERE = Path(__file__).resolve().parents[2]
REPO = _HERE if (_HERE / "dags").is_dir() else Path.cwd()


def replay_origin_default(env: dict[str, str], port: int) -> str:
    """Replays on ``http://localhost:PORT`` unless the settings name a replay origin (or
    ``WITNESSBOX_REPLAY_ORIGIN=""`` turns it off): another host name, another origin."""
    from kernel.errors import WitnessboxError
    from kernel.settings import load_settings

    if "WITNESSBOX_REPLAY_ORIGIN" not in env:
        try:
            configured = load_settings(env).replay_origin
        except WitnessboxError:
            configured = ""  # the settings' own error surfaces where they are used
        env["WITNESSBOX_REPLAY_ORIGIN"] = configured or f"http://localhost:{port}"
    return env["WITNESSBOX_REPLAY_ORIGIN"]


def main() -> int:
    try:
        port = int(os.environ.get("AIRFLOW_PORT", "8080"))
    except ValueError:
        print("error: AIRFLOW_PORT must be a port number", file=sys.stderr)
        return 2
    home = Path(os.environ.get("AIRFLOW_HOME", REPO / "airflow-home")).absolute()
    env = airflow_env(home, port, dags_folder=REPO / "dags")
    env.setdefault("WITNESSBOX_HOME", str(REPO / "witnessbox-data"))
    replays = replay_origin_default(env, port)
    print(f"preparing Airflow in {home} (metadata database, pools)...", flush=True)
    try:
        prepare(env)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    new = ensure_passwords(home, ROLE_USERS)
    service = AirflowService(env, port)
    stopping = False

    def interrupted(signum: int, frame: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    try:
        service.start()
        print("starting api-server, scheduler, dag-processor, triggerer...", flush=True)
        service.wait_ready(timeout=300)
        print(
            f"\nAirflow is up: {service.url}/ (log in there; witnessbox menu: "
            f"{service.url}/witnessbox/watchlist)"
        )
        for name, role in ROLE_USERS.items():
            secret = new.get(name)
            shown = secret if secret else f"(unchanged, see {home / 'passwords.json'})"
            print(f"  {name:9} role {role:6} password {shown}")
        if replays:
            print(f"replays open on {replays} (its own origin: archived scripts never see "
                  f"your login); open Airflow itself at {service.url} only")  # fmt: skip
        print(f"logs: {home / 'logs'}; Ctrl-C stops everything.", flush=True)
        while True:
            for name, proc in service.procs.items():
                if proc.poll() is not None:
                    print(
                        f"error: airflow {name} exited ({proc.returncode}); see "
                        f"{service.log_path(name)}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(2)
    except KeyboardInterrupt:
        print("\nstopping Airflow...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        service.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
