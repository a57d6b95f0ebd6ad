"""Secret stores (SPEC R-77, R-79): resolution and management per store."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.secrets import (
    DotenvSecretStore,
    EncryptedFileSecretStore,
    EnvSecretStore,
    JsonSecretStore,
    KeyringSecretStore,
    MemorySecretStore,
    ReadOnlyStoreError,
    create_store,
    parse_dotenv,
    require_management,
)
from adapters.secrets.dotenv import format_entry
from meshcore.errors import ConfigurationError

FAST = 1000  # PBKDF2 iterations for tests (the default is 600000)


def test_memory_store_management_r77() -> None:
    s = MemorySecretStore({"A": "1"})
    assert s.get("A") == "1"
    s.set("B", "2")
    assert s.list() == ["A", "B"]
    s.delete("A")
    with pytest.raises(KeyError):
        s.get("A")
    with pytest.raises(KeyError):
        s.delete("A")


def test_env_store_prefix_and_read_only_r77() -> None:
    s = EnvSecretStore(prefix="APP_", environ={"APP_KEY": "v", "KEY": "other"})
    assert s.get("KEY") == "v"
    with pytest.raises(KeyError):
        s.get("MISSING")
    with pytest.raises(ReadOnlyStoreError, match="store is read-only"):
        require_management(s)


DOTENV = """# leading comment
export PLAIN=value # trailing comment
SINGLE='lit $HOME # x \\n'
DOUBLE="a\\tb \\"q\\""
MULTI="line1
line2"
EMPTY=

KEEP=me
"""


def test_dotenv_parsing_r79(tmp_path: Path) -> None:
    values = {e.key: e.value for e in parse_dotenv(DOTENV)}
    assert list(values) == ["PLAIN", "SINGLE", "DOUBLE", "MULTI", "EMPTY", "KEEP"]
    assert values["SINGLE"] == "lit $HOME # x \\n"  # single quotes: literal
    assert values["PLAIN"] == "value"
    assert values["DOUBLE"] == 'a\tb "q"'
    assert values["MULTI"] == "line1\nline2"
    assert values["EMPTY"] == ""


def test_dotenv_override_and_rewrite_preserves_lines_r79(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(DOTENV)
    s = DotenvSecretStore(path, environ={"PLAIN": "from-env"})
    assert s.get("PLAIN") == "from-env"  # override false: environment wins
    assert DotenvSecretStore(path, override=True, environ={"PLAIN": "e"}).get("PLAIN") == "value"
    s.set("MULTI", "new value")
    s.set("ADDED", "x\ny")
    text = path.read_text()
    assert "# leading comment" in text and "KEEP=me" in text
    assert "line2" not in text
    assert s.get("MULTI") == "new value" and s.get("ADDED") == "x\ny"
    s.delete("PLAIN")
    assert "PLAIN" not in s.list() and "export PLAIN" not in path.read_text()
    with pytest.raises(KeyError):
        s.delete("PLAIN")
    assert s.list() == sorted(["SINGLE", "DOUBLE", "MULTI", "EMPTY", "KEEP", "ADDED"])


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=40))
def test_dotenv_format_roundtrip_r79(value: str) -> None:
    entries = parse_dotenv("# c\n" + format_entry("K", value) + "\nOTHER=1\n")
    assert {e.key: e.value for e in entries} == {"K": value, "OTHER": "1"}


def test_json_store_dotted_keys_and_scope_r79(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"prod": {"db": {"password": "pw", "port": 5432},
                                         "flat.key": "f"}, "other": {"x": "y"}}))
    s = JsonSecretStore(path, json_path="prod")
    assert s.get("db.password") == "pw"
    assert s.get("db.port") == "5432"
    assert s.get("flat.key") == "f"
    with pytest.raises(KeyError):
        s.get("other.x")
    assert s.list() == ["db.password", "db.port", "flat.key"]
    s.set("api.token", "t")
    assert json.loads(path.read_text())["prod"]["api"]["token"] == "t"
    s.delete("db.password")
    with pytest.raises(KeyError):
        s.get("db.password")
    with pytest.raises(KeyError):
        s.delete("nope.nope")
    assert json.loads(path.read_text())["other"] == {"x": "y"}


def test_encrypted_file_format_and_roundtrip_r79(tmp_path: Path) -> None:
    path = tmp_path / "secrets.enc"
    s = EncryptedFileSecretStore(path, passphrase="correct horse", pbkdf2_iterations=FAST)
    s.set("OPENAI_API_KEY", "sk-very-secret")
    s.set("B", "2")
    doc = json.loads(path.read_text())
    assert doc["version"] == 1 and doc["algorithm"] == "aes-256-gcm"
    assert len(base64.b64decode(doc["salt"])) == 16
    assert len(base64.b64decode(doc["data"])) == 12 + len(b"") + 16 + len(
        json.dumps({"B": "2", "OPENAI_API_KEY": "sk-very-secret"}, sort_keys=True))
    assert b"sk-very-secret" not in path.read_bytes()
    again = EncryptedFileSecretStore(path, passphrase="correct horse", pbkdf2_iterations=FAST)
    assert again.get("OPENAI_API_KEY") == "sk-very-secret"
    assert again.list() == ["B", "OPENAI_API_KEY"]
    again.delete("B")
    with pytest.raises(KeyError):
        s.get("B")


def test_encrypted_file_wrong_passphrase_names_file_r79(tmp_path: Path) -> None:
    path = tmp_path / "secrets.enc"
    EncryptedFileSecretStore(path, passphrase="right", pbkdf2_iterations=FAST).set("K", "v")
    wrong = EncryptedFileSecretStore(path, passphrase="wrong", pbkdf2_iterations=FAST)
    with pytest.raises(ConfigurationError) as err:
        wrong.get("K")
    assert str(path) in str(err.value) and "v" not in str(err.value).split(":")[-1].split()
    with pytest.raises(ConfigurationError):
        EncryptedFileSecretStore(path, passphrase="right", pbkdf2_iterations=FAST + 1).list()


def test_encrypted_file_raw_key_wins_r79(tmp_path: Path) -> None:
    path = tmp_path / "k.enc"
    key = "ab" * 32
    EncryptedFileSecretStore(path, passphrase="ignored", encryption_key=key).set("K", "v")
    assert EncryptedFileSecretStore(path, encryption_key=key).get("K") == "v"
    with pytest.raises(ConfigurationError):
        EncryptedFileSecretStore(path, passphrase="ignored", pbkdf2_iterations=FAST).get("K")
    with pytest.raises(ConfigurationError, match="64"):
        EncryptedFileSecretStore(path, encryption_key="abc")
    with pytest.raises(ConfigurationError):
        EncryptedFileSecretStore(path)


def test_encrypted_file_without_cryptography_fails_r79(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    import builtins

    real = builtins.__import__

    def fake(name: str, *args: object, **kw: object) -> object:
        if name.startswith("cryptography"):
            raise ImportError(name)
        return real(name, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ConfigurationError, match="cryptography"):
        EncryptedFileSecretStore(tmp_path / "x.enc", passphrase="p")


class FakeKeyring:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, name: str) -> str | None:
        return self.data.get((service, name))

    def set_password(self, service: str, name: str, value: str) -> None:
        self.data[(service, name)] = value

    def delete_password(self, service: str, name: str) -> None:
        del self.data[(service, name)]


def test_keyring_store_index_r79() -> None:
    kr = FakeKeyring()
    s = KeyringSecretStore("svc", backend=kr)
    s.set("B", "2")
    s.set("A", "1")
    assert s.get("A") == "1" and s.list() == ["A", "B"]
    s.delete("A")
    assert s.list() == ["B"]
    with pytest.raises(KeyError):
        s.delete("A")
    assert ("svc", "B") in kr.data


def test_keyring_store_real_backend_r79() -> None:
    pytest.importorskip("keyring")
    try:
        s = KeyringSecretStore("modelmesh-test")
        s.list()
    except Exception as exc:  # no usable OS keyring here
        pytest.skip(f"no keyring backend: {exc}")


def test_registry_builds_each_store_r79(tmp_path: Path) -> None:
    sec = {"connector": "modelmesh.dotenv.v1",
           "config": {"path": "${env:ENV_DIR}/.env", "override": False}}
    (tmp_path / ".env").write_text("K=v\n")
    store = create_store(sec, environ={"ENV_DIR": str(tmp_path)})
    assert isinstance(store, DotenvSecretStore) and store.get("K") == "v"
    mem = create_store({"connector": "modelmesh.memory-secrets.v1",
                        "config": {"secrets": {"X": "1"}}})
    assert mem.get("X") == "1"
    with pytest.raises(ConfigurationError, match="not allowed"):
        create_store({"connector": "modelmesh.env.v1", "config": {"prefix": "${secrets:P}"}})
    with pytest.raises(ConfigurationError, match="unknown"):
        create_store({"connector": "acme.vault.v1"})
