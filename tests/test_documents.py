"""Files faceproof reads back (model.json, custody bundles, alignments) refuse what they cannot trust, each with
the file's name and the stage's own error."""

from __future__ import annotations

import json

import pytest

from provenance.custody.bundle import load_bundle
from provenance.errors import CustodyError
from swapcore import alignments
from swapcore.errors import SwapcoreError
from swapcore.training import bundle


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not a readable JSON file"),
    (json.dumps({"schema": "someone.else", "version": 1}), "not a faceproof model description"),
    (json.dumps({"schema": bundle.SCHEMA, "version": 99}), "a faceproof model description version 99 is not supported"),
    (json.dumps([1, 2]), "not a faceproof model description"),
])
def test_a_bad_model_json_is_refused_with_the_reason(tmp_path, text, problem):
    (tmp_path / bundle.MODEL_JSON).write_text(text)
    with pytest.raises(bundle.ModelFolderError, match=f"model.json: {problem}"):
        bundle.read_model_json(tmp_path)


def test_a_custody_bundle_of_another_version_or_kind_is_refused(tmp_path):
    path = tmp_path / "audit.json"
    path.write_text(json.dumps({"format": "faceproof-custody-bundle", "version": 2}))
    with pytest.raises(CustodyError, match="audit.json: a faceproof custody bundle version 2 is not supported"):
        load_bundle(path)
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(CustodyError, match="audit.json: not a readable JSON file"):
        load_bundle(path)
    with pytest.raises(CustodyError, match="missing.json: not a readable JSON file"):
        load_bundle(tmp_path / "missing.json")


def test_alignments_that_are_not_json_name_the_file(tmp_path):
    (tmp_path / alignments.FILENAME).write_text('{"version": 2, "frames": [')
    with pytest.raises(SwapcoreError, match="alignments.json: not a readable JSON file"):
        alignments.load(tmp_path)
