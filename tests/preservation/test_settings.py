from __future__ import annotations

import pytest

from kernel.errors import ConfigError
from kernel.settings import load_settings


def test_defaults_live_in_home(tmp_path):
    s = load_settings({"WITNESSBOX_HOME": str(tmp_path)})
    assert s.store == f"file://{tmp_path}/store"
    assert s.catalogue == f"sqlite:///{tmp_path}/catalogue.sqlite"
    assert s.allow_private_networks is False


def test_env_overrides_toml(tmp_path):
    (tmp_path / "witnessbox.toml").write_text('retention_days = 30\nstore = "s3://evidence"\n')
    s = load_settings({"WITNESSBOX_HOME": str(tmp_path), "WITNESSBOX_RETENTION_DAYS": "7"})
    assert s.retention_days == 7 and s.store == "s3://evidence"


def test_bad_settings_are_config_errors(tmp_path):
    with pytest.raises(ConfigError):
        load_settings({"WITNESSBOX_HOME": str(tmp_path), "WITNESSBOX_ALLOW_PRIVATE_NETWORKS": "maybe"})
    (tmp_path / "witnessbox.toml").write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"WITNESSBOX_HOME": str(tmp_path)})


def test_secrets_never_in_repr_or_public_dict(tmp_path):
    s = load_settings({"WITNESSBOX_HOME": str(tmp_path), "WITNESSBOX_S3_SECRET_KEY": "topsecretvalue1",
                       "WITNESSBOX_TELEGRAM_SESSION": "1BVtsOKABu-sessionstring"})
    assert "topsecretvalue1" not in repr(s)
    assert "sessionstring" not in str(s.public_dict())
    assert s.public_dict()["s3_secret_key"] == "(set)"
