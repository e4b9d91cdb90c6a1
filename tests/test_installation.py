"""The installation object: resolved once from the environment by entry points, passed down explicitly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from provenance.consent import list_consents, record_consent
from provenance.errors import CustodyError
from provenance.installation import Installation

REPO = Path(__file__).resolve().parent.parent
INSTALLATION_VARIABLES = {"FACEPROOF_HOME", "FACEPROOF_CUSTODY_URL", "FACEPROOF_KEY_PASSPHRASE",
                          "FACEPROOF_WITNESSES", "FACEPROOF_WITNESS_QUORUM"}


def test_the_environment_gives_home_log_passphrase_and_witnesses(tmp_path):
    found = Installation.from_environment({"FACEPROOF_HOME": str(tmp_path), "FACEPROOF_KEY_PASSPHRASE": "s3cret",
                                           "FACEPROOF_CUSTODY_URL": "postgresql://db/custody"})
    assert (found.home, found.custody_url, found.passphrase, found.can_sign) == (tmp_path, "postgresql://db/custody",
                                                                               "s3cret", True)
    assert found.custody_db_path == tmp_path / "custody.sqlite3"
    assert found.watermark_key_path == tmp_path / "keys" / "watermark.key"
    assert "s3cret" not in repr(found)  # the passphrase never reaches a log line or a traceback


def test_an_empty_environment_means_the_home_folder_and_locked_keys():
    found = Installation.from_environment({})
    assert found.home == Path.home() / ".faceproof"
    assert found.custody_url is None and not found.can_sign and not found.witnesses.witnesses


def test_a_malformed_witness_list_is_refused_when_the_installation_is_resolved():
    with pytest.raises(CustodyError, match="FACEPROOF_WITNESSES"):
        Installation.from_environment({"FACEPROOF_WITNESSES": "not-a-key http://witness"})


def test_two_installations_in_one_process_keep_their_own_logs(tmp_path):
    """Nothing is global: a consent recorded in one installation is unknown to another, and reading a fresh
    installation creates nothing."""
    first, second = (Installation(tmp_path / name, passphrase="two homes") for name in ("first", "second"))
    form = tmp_path / "form.pdf"
    form.write_bytes(b"%PDF-1.4 consent")
    with first.sealer() as sealer:
        record_consent(sealer.log, identity="alice", person="Alice", document=form, actor="admin")
    assert not second.has_custody_log() and second.registry() is None and second.watermark_secret() is None
    assert not second.home.exists()
    with second.sealer() as sealer:
        assert list_consents(sealer.log) == []
    log = first.custody_log()
    try:
        assert [record.identity for record in list_consents(log)] == ["alice"]
    finally:
        log.store.close()


def _environment_reads(path: Path) -> set[str]:
    """The installation variables a module reads from the environment (os.environ[...] / .get(...) / getenv)."""
    read = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and node.value in INSTALLATION_VARIABLES:
            read.add(node.value)
    return read


def test_only_the_installation_module_reads_the_installation_variables():
    """Library code takes the installation (or what it needs) as arguments; the CLI, web app, benches and
    fitting scripts resolve it through `Installation.from_environment()`, so the variables are named once."""
    readers = {}
    for package in ("swapcore", "provenance", "detector", "webapp", "bench", "scripts"):
        for path in (REPO / package).rglob("*.py"):
            names = _environment_reads(path)
            if names:
                readers[str(path.relative_to(REPO))] = names
    assert set(readers) <= {"provenance/installation.py", "provenance/custody/witness.py"}, readers
    assert readers.get("provenance/custody/witness.py", set()) <= {"FACEPROOF_WITNESSES", "FACEPROOF_WITNESS_QUORUM"}
