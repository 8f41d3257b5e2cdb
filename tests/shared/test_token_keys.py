"""Token keys: generated once in development (safe against concurrent first starts), named PEM files
elsewhere, and no start-up without them or with a private key others can read."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from shared.auth import ISSUERS, ConfigurationError
from shared.settings import Settings
from shared.token_keys import (
    development_key_pair,
    load_private_key,
    load_public_keys,
    service_identity,
    token_verifier,
)
from tests.auth import KEYS_DIR, key_file_settings

ROOT = Path(__file__).resolve().parents[2]


def _public_bytes(path: Path) -> bytes:
    return path.read_bytes()


def test_development_keys_are_generated_once_and_kept_private(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path)
    first = {issuer: load_private_key(settings, issuer) for issuer in ISSUERS}
    keys = tmp_path / "keys"
    assert sorted(p.name for p in keys.iterdir()) == sorted(
        [f"{i}.pem" for i in ISSUERS] + [f"{i}.pub.pem" for i in ISSUERS]
    )
    assert keys.stat().st_mode & 0o777 == 0o700
    for issuer in ISSUERS:
        assert (keys / f"{issuer}.pem").stat().st_mode & 0o777 == 0o600
        again = load_private_key(settings, issuer)
        raw = (Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        assert again.private_bytes(*raw) == first[issuer].private_bytes(*raw), "generated once"
    assert len({k.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()) for k in first.values()}) == 4
    other = load_private_key(Settings(env="development", data_dir=tmp_path / "other"), "talent")
    assert other.public_key() != first["talent"].public_key()


def test_development_keys_let_services_verify_each_other(tmp_path: Path) -> None:
    settings = Settings(env="development", data_dir=tmp_path)
    kpi = token_verifier(settings, "kpi")  # the KPI service may start first: it generates what it trusts
    talent = service_identity(settings, "talent")
    assert kpi.verify(talent("kpi", "k3f9a1b2c3")).recorded_as == "talent for k3f9a1b2c3"


def test_concurrent_threads_agree_on_one_key_pair(tmp_path: Path) -> None:
    barrier = threading.Barrier(16)

    def race(_: int) -> bytes:
        barrier.wait()
        return development_key_pair(tmp_path, "gateway")[1].read_bytes()

    with ThreadPoolExecutor(16) as pool:
        publics = set(pool.map(race, range(16)))
    assert len(publics) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gateway.pem", "gateway.pub.pem"], "no draft left"
    settings = Settings(
        env="development", data_dir=tmp_path.parent, internal_token_private_key_file=tmp_path / "gateway.pem"
    )
    derived = load_private_key(settings, "gateway").public_key()
    assert derived.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo) in publics


RACER = """
import os, sys, time
from pathlib import Path
from shared.token_keys import development_key_pair
keys, ready, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
(ready / str(os.getpid())).touch()
while len(os.listdir(ready)) < count:  # every racer is imported and waiting: go together
    time.sleep(0.001)
_, public = development_key_pair(keys, "talent")
sys.stdout.write(public.read_text())
"""


def test_concurrent_first_starts_agree_on_one_key_pair(tmp_path: Path) -> None:
    keys, ready, count = tmp_path / "keys", tmp_path / "ready", 3
    ready.mkdir()
    command = [sys.executable, "-c", RACER, str(keys), str(ready), str(count)]
    racers = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(count)]
    outputs = {racer.communicate(timeout=120)[0] for racer in racers}
    assert [racer.returncode for racer in racers] == [0] * count
    assert len(outputs) == 1
    assert next(iter(outputs)).startswith("-----BEGIN PUBLIC KEY-----")
    assert sorted(p.name for p in keys.iterdir()) == ["talent.pem", "talent.pub.pem"], "no draft left"


@pytest.mark.parametrize("env", ["production", "test"])
def test_outside_development_every_key_file_must_be_named(env: str, tmp_path: Path) -> None:
    bare = Settings(env=env, data_dir=tmp_path)
    with pytest.raises(ConfigurationError, match=f"PILOTAGE_INTERNAL_TOKEN_PRIVATE_KEY_FILE must name .*={env}"):
        load_private_key(bare, "kpi")
    with pytest.raises(ConfigurationError, match="PILOTAGE_GATEWAY_PUBLIC_KEY_FILE must name"):
        load_public_keys(bare, "talent")
    named = key_file_settings("kpi")
    for missing in ("gateway", "strategy", "talent"):
        field = f"{missing}_public_key_file"
        settings = Settings(env=env, data_dir=tmp_path, **{**named, field: None})  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match=f"PILOTAGE_{missing.upper()}_PUBLIC_KEY_FILE must name"):
            load_public_keys(settings, "kpi")
    assert not (tmp_path / "keys").exists()
    settings = Settings(env=env, data_dir=tmp_path, **named)  # type: ignore[arg-type]
    assert set(load_public_keys(settings, "kpi")) == {"gateway", "strategy", "talent"}
    assert set(load_public_keys(settings, "strategy")) == {"gateway"}  # only what it trusts
    load_private_key(settings, "kpi")


def _settings(tmp_path: Path, **files: Path) -> Settings:
    return Settings(env="production", data_dir=tmp_path, **files)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o700 | 0o004])
def test_a_private_key_file_that_group_or_others_can_read_is_refused(mode: int, tmp_path: Path) -> None:
    key = tmp_path / "kpi.pem"
    shutil.copyfile(KEYS_DIR / "kpi.pem", key)
    key.chmod(mode)
    with pytest.raises(ConfigurationError, match=rf"{key}, which group or others can read \(mode {mode:04o}\)"):
        load_private_key(_settings(tmp_path, internal_token_private_key_file=key), "kpi")
    key.chmod(0o400)
    load_private_key(_settings(tmp_path, internal_token_private_key_file=key), "kpi")


def test_files_that_are_not_ed25519_keys_are_refused(tmp_path: Path) -> None:
    ed448 = Ed448PrivateKey.generate()
    (tmp_path / "ed448.pem").write_bytes(ed448.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (tmp_path / "ed448.pub.pem").write_bytes(
        ed448.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    (tmp_path / "garbage.pem").write_text("not a key")
    for path in tmp_path.iterdir():
        path.chmod(0o600)
    private_cases = {"ed448.pem": "not an unencrypted Ed25519 private key", "garbage.pem": "not an unencrypted",
                     "ed448.pub.pem": "not an unencrypted", "absent.pem": "does not exist"}  # fmt: skip
    for name, message in private_cases.items():
        with pytest.raises(ConfigurationError, match=f"PILOTAGE_INTERNAL_TOKEN_PRIVATE_KEY_FILE names .*{message}"):
            load_private_key(_settings(tmp_path, internal_token_private_key_file=tmp_path / name), "kpi")
    for name in ("ed448.pub.pem", "garbage.pem", "ed448.pem"):
        settings = _settings(tmp_path, gateway_public_key_file=tmp_path / name)
        with pytest.raises(ConfigurationError, match=r"GATEWAY_PUBLIC_KEY_FILE names .* not an Ed25519 public"):
            load_public_keys(settings, "talent")


@pytest.mark.parametrize(("service", "borrowed"), [("talent", "gateway"), ("strategy", "gateway"), ("kpi", "talent")])
def test_a_service_given_another_issuers_private_key_refuses_to_start(
    service: str, borrowed: str, tmp_path: Path
) -> None:
    named = {**key_file_settings(service), "internal_token_private_key_file": KEYS_DIR / f"{borrowed}.pem"}
    settings = Settings(env="production", data_dir=tmp_path, **named)  # type: ignore[arg-type]
    with pytest.raises(
        ConfigurationError, match=f"holds the {borrowed} private key; the {service} service needs its own"
    ):
        service_identity(settings, service)
    own = Settings(env="production", data_dir=tmp_path, **key_file_settings(service))  # type: ignore[arg-type]
    assert service_identity(own, service).issuer == service
