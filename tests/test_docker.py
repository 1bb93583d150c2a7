"""docker/: a compose file that would start (no daemon here, so it is read, not run).

Parsed with PyYAML and interpolated with docker/env.example as docker/.env: every service
and volume it needs, health checks and the ``depends_on`` conditions they make possible,
pinned images, secrets out of volumes, least-privilege storage credentials, loopback UI,
Redis with a password, Celery queues per worker; then ``docker-compose config`` (and
``docker compose config`` where the CLI has the plugin) on a copy of docker/.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
LONG_RUNNING = {"postgres", "redis", "minio", "airflow-apiserver", "airflow-scheduler",
                "airflow-dag-processor", "airflow-triggerer", "airflow-worker",
                "airflow-worker-telegram"}
ONE_SHOT = {"minio-init", "airflow-init"}
WORKERS = {"airflow-worker", "airflow-worker-telegram"}
VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def env_example() -> dict[str, str]:
    values = {}
    for line in (DOCKER / "env.example").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, over a parsed document."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        name, op, arg = match.groups()
        if env.get(name):
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op and op.endswith("-") else ""

    return VAR.sub(one, value.replace("$$", "\0")).replace("\0", "$")


def load(name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return interpolate(yaml.safe_load((DOCKER / name).read_text()), env or env_example())


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load("docker-compose.yml")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return dict(env) if isinstance(env, dict) else dict(e.split("=", 1) for e in env)


def test_every_service_and_volume_is_there(compose):
    services = compose["services"]
    assert set(services) == LONG_RUNNING | ONE_SHOT
    declared = set(compose["volumes"])
    used = set()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                used.add(source)
    assert used == declared, (used, declared)
    assert {"postgres", "redis", "minio", "witnessbox-home", "airflow-logs"} <= declared


def test_health_checks_restart_policies_and_start_order(compose):
    services = compose["services"]
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check["test"] and check.get("interval"), f"{name} has no health check"
        assert services[name]["restart"] == "unless-stopped", name
    for name in ONE_SHOT:
        assert services[name]["restart"] == "no", name
    for name, service in services.items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dep, how in depends.items():
            assert dep != name
            condition = how["condition"]
            if condition == "service_healthy":
                assert dep in LONG_RUNNING and services[dep].get("healthcheck"), (name, dep)
            else:
                assert condition == "service_completed_successfully" and dep in ONE_SHOT, (name, dep)
    for name in LONG_RUNNING - {"postgres", "redis", "minio"}:
        depends = services[name]["depends_on"]
        assert depends["airflow-init"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == depends["redis"]["condition"] == "service_healthy"
    assert services["airflow-init"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


def test_images_are_pinned(compose):
    for name, service in compose["services"].items():
        image = service["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", f"{name}: {image}"
        assert re.search(r"\d+\.\d+|RELEASE\.\d{4}", tag), f"{name}: {image} is not a pinned version"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11\.\d+-slim-bookworm$", dockerfile, re.M)


def test_airflow_shared_secrets_and_the_signing_key(compose):
    example = env_example()
    for name in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY",
                 "POSTGRES_PASSWORD", "REDIS_PASSWORD", "WITNESSBOX_DB_PASSWORD"):
        assert example.get(name), f"env.example lacks {name}"
    raw = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    text = (DOCKER / "docker-compose.yml").read_text().replace("$$", "")  # $$ is the container's
    needed = {m.group(1) for m in VAR.finditer(text)
              if not (m.group(2) or "").endswith("-")}
    assert needed <= set(example), f"used but not in env.example: {needed - set(example)}"
    assert raw["secrets"]["witnessbox_signing_key"]["file"] == "./secrets/signing_key.pem"
    for name in ("airflow-init", *WORKERS):
        service = compose["services"][name]
        assert service["env_file"] == ".env"
        assert "witnessbox_signing_key" in service["secrets"], name
        env = environment(service)
        assert "WITNESSBOX_SIGNING_KEY" not in env and "WITNESSBOX_SIGNING_KEY_PEM" not in env
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    assert "load WITNESSBOX_SIGNING_KEY_PEM /run/secrets/witnessbox_signing_key" in entrypoint
    init = "\n".join(compose["services"]["airflow-init"]["command"])
    assert "no signing key" in init and init.index("SIGNING_KEY_PEM") < init.index("witnessbox init")
    assert ".env" in (ROOT / ".gitignore").read_text() and "docker/secrets/*" in (ROOT / ".gitignore").read_text()


def test_storage_uses_its_own_user_and_an_object_lock_bucket(compose):
    services = compose["services"]
    example = env_example()
    assert example["WITNESSBOX_S3_ACCESS_KEY"] != example["MINIO_ROOT_USER"]
    for name in LONG_RUNNING - {"postgres", "redis", "minio"} | {"airflow-init"}:
        env = environment(services[name])
        assert not any(k.startswith("MINIO_ROOT") for k in env), name
        assert env["WITNESSBOX_STORE"] == "s3://evidence" and env["WITNESSBOX_S3_ENDPOINT"] == "minio:9000"
        assert "witnessbox:" in env["WITNESSBOX_CATALOGUE"]  # its own PostgreSQL role too
    init = environment(services["minio-init"])
    assert init["MINIO_ROOT_USER"] == example["MINIO_ROOT_USER"]
    script = (DOCKER / "minio-init.sh").read_text()
    assert "mc mb --ignore-existing --with-lock" in script
    assert "WITNESSBOX_ALLOW_UNLOCKED" in script and "exit 1" in script
    policy = script[script.index("<<JSON"):script.index("\nJSON")]
    assert "s3:PutObjectRetention" in policy and "Delete" not in policy and "Bypass" not in policy
    assert "CREATE ROLE witnessbox" in (DOCKER / "initdb" / "witnessbox.sh").read_text()


def test_workers_queues_shm_redis_and_the_ui_port(compose):
    services = compose["services"]
    for name in WORKERS:
        worker = services[name]
        assert worker["shm_size"] in ("1gb", "2gb"), name
        assert "ports" not in worker and "container_name" not in worker  # --scale works
        assert "witnessbox_airflow.celery_worker" in " ".join(worker["command"])
    web = " ".join(services["airflow-worker"]["command"])
    assert '--queues "default,witnessbox_web,witnessbox_video"' in web and "--concurrency" in web
    telegram = services["airflow-worker-telegram"]
    assert "--queues witnessbox_telegram --concurrency 1" in " ".join(telegram["command"])
    assert "witnessbox_telegram_session" in telegram["secrets"]
    holders = [n for n, s in services.items() if "witnessbox_telegram_session" in s.get("secrets", [])]
    assert holders == ["airflow-worker-telegram"]
    redis = services["redis"]
    password = env_example()["REDIS_PASSWORD"]
    assert "--requirepass" in " ".join(redis["command"]) and environment(redis)["REDIS_PASSWORD"] == password
    for name in LONG_RUNNING - {"postgres", "redis", "minio"}:
        broker = environment(services[name])["AIRFLOW__CELERY__BROKER_URL"]
        assert broker == f"redis://:{password}@redis:6379/0"
        assert environment(services[name])["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert services["airflow-apiserver"]["ports"] == ["127.0.0.1:8080:8080"]
    published = [n for n, s in services.items() if s.get("ports")]
    assert published == ["airflow-apiserver"]


def test_other_hosts_have_a_documented_way_in():
    env = {**env_example(), "WITNESSBOX_MAIN_HOST": "10.0.0.5", "WITNESSBOX_WORKER_ADDRESS": "10.0.0.6",
           "WITNESSBOX_PRIVATE_IP": "10.0.0.5"}
    worker = load("worker-host.yml", env)["services"]["airflow-worker"]
    assert environment(worker)["AIRFLOW__CELERY__BROKER_URL"].endswith("@10.0.0.5:6379/0")
    assert worker["ports"] == ["10.0.0.6:8793:8793"]
    assert '--address "${WITNESSBOX_WORKER_ADDRESS}"' in " ".join(worker["command"])
    with pytest.raises(KeyError, match="WITNESSBOX_MAIN_HOST"):
        load("worker-host.yml")
    exposed = load("expose.yml", env)["services"]
    assert all(p.startswith("10.0.0.5:") for s in exposed.values() for p in s["ports"])
    readme = (ROOT / "README.md").read_text()
    assert "docker/worker-host.yml" in readme and "--scale airflow-worker=" in readme


def test_the_image_installs_witnessbox_as_a_package():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "pip install -c constraints.txt ." in dockerfile
    assert "/opt/airflow/plugins" not in dockerfile.replace("mkdir -p /var/lib/witnessbox /opt/airflow/plugins", "")
    for package in ("kernel", "hashing", "collectors", "preservation", "plugins"):
        assert f"COPY {package} {package}" in dockerfile
    assert 'ENTRYPOINT ["/usr/local/bin/witnessbox-entrypoint"]' in dockerfile


def _cli_config(tmp_path: Path) -> list[list[str]]:
    clis = []
    if shutil.which("docker-compose"):
        clis.append(["docker-compose"])
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            clis.append(["docker", "compose"])
    return clis


def test_compose_cli_accepts_the_files(tmp_path):
    clis = _cli_config(tmp_path)
    if not clis:
        pytest.skip("no docker-compose here (scripts/ensure-system.sh installs Debian's docker-compose)")
    copy = tmp_path / "repo" / "docker"
    shutil.copytree(DOCKER, copy, ignore=shutil.ignore_patterns(".env", "secrets"))
    (copy / "secrets").mkdir()
    (copy / "secrets" / "signing_key.pem").write_text("not a key: only its presence matters here\n")
    (copy / "secrets" / "telegram_session").write_text("")
    env = (DOCKER / "env.example").read_text()
    (copy / ".env").write_text(env + "WITNESSBOX_PRIVATE_IP=10.0.0.5\nWITNESSBOX_MAIN_HOST=10.0.0.5\n"
                               "WITNESSBOX_WORKER_ADDRESS=10.0.0.6\n")
    for cli in clis:
        for files in (["docker-compose.yml"], ["docker-compose.yml", "expose.yml"], ["worker-host.yml"]):
            args = [*cli, "--project-directory", str(copy)]
            for name in files:
                args += ["-f", str(copy / name)]
            done = subprocess.run([*args, "config", "-q"], capture_output=True, text=True, cwd=copy)
            assert done.returncode == 0, (cli, files, done.stderr)
        names = subprocess.run([*cli, "-f", str(copy / "docker-compose.yml"), "config", "--services"],
                               capture_output=True, text=True, cwd=copy)
        assert set(names.stdout.split()) == LONG_RUNNING | ONE_SHOT
