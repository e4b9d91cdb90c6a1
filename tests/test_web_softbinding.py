"""The C2PA Soft Binding Resolution API (/api/softbinding/v1/): a sealed output's watermark ID resolves to the
manifest store its file carries, for the organisation that sealed it and for one holding a marked copy (a case
whose detector read the ID), and for nobody else; malformed queries are 400, unknown ones find nothing."""

from __future__ import annotations

import base64
import subprocess

import pytest

from tests.web_fixtures import *  # noqa: F403  (fixtures)
from tests.web_fixtures import client_for, make_member, sealed_output_of

pytestmark = pytest.mark.django_db
ALG = "org.faceproof.watermark.v1"
BASE = "/api/softbinding/v1"


@pytest.fixture
def sealed(project, members, tmp_path):
    from webapp.projects.models import Output

    path = sealed_output_of(project, members["producer"], tmp_path)
    return path, Output.objects.get(project=project)


def _matches(client, watermark_id: int, **extra):
    from provenance.softbinding import binding_value

    return client.get(f"{BASE}/matches/byBinding", {"alg": ALG, "value": binding_value(watermark_id), **extra})


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_stripped_copys_watermark_leads_back_to_the_manifest_store_its_file_carried(sealed, members, tmp_path):
    from provenance import manifest
    from provenance.installation import Installation
    from provenance.keys import KeyStore
    from provenance.watermark import detect_frames, load_or_create_watermark_key
    from swapcore import media
    from swapcore.media import ffmpeg_exe

    path, output = sealed
    anchors = Installation.from_environment().key_store().trust_anchors_pem()
    stripped = tmp_path / "stripped.mp4"  # remuxed: the same frames, the manifest gone
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-c", "copy", "-map_metadata", "-1", str(stripped)],
                   check=True)
    assert manifest.verify(stripped, trust_anchors_pem=anchors).state == "NoManifest"
    secret = load_or_create_watermark_key(Installation.from_environment().watermark_key_path)
    watermark_id = detect_frames((frame for _, frame in media.iter_frames(stripped)), secret).watermark_id
    assert watermark_id == output.watermark_id

    producer = client_for(members["producer"])
    found = _matches(producer, watermark_id)
    assert found.status_code == 200
    assert found.json() == {"matches": [{"manifestId": output.manifest_label, "similarityScore": 100}]}
    posted = producer.post(f"{BASE}/matches/byBinding?maxResults=1", {"alg": ALG, "value": _b64(str(watermark_id))},
                           content_type="application/json")
    assert posted.json() == found.json()
    assert _matches(client_for(members["auditor"]), watermark_id).json() == found.json()  # any role of the organisation

    fetched = producer.get(f"{BASE}/manifests/{output.manifest_label}")
    assert fetched.status_code == 200 and fetched["Content-Type"] == "application/c2pa"
    store = fetched.content
    assert store[4:8] == b"jumb" and store in path.read_bytes()  # the JUMBF store the sealed file embeds, verbatim
    sidecar = manifest.verify(path, trust_anchors_pem=anchors, manifest_store=store)
    assert sidecar.state == "Trusted", sidecar.failures
    assert sidecar.manifest_label == output.manifest_label and sidecar.soft_binding_ids == [str(watermark_id)]
    # Against the stripped copy the store's signature and claim still verify; only its hard binding (the hash
    # of the original bytes) no longer matches: the watermark, not the bytes, ties the copy to it.
    recovered = manifest.verify(stripped, trust_anchors_pem=anchors, manifest_store=store)
    assert recovered.failures == ["assertion.bmffHash.mismatch"] and recovered.consent == sidecar.consent


def test_only_the_sealing_organisation_and_holders_of_a_marked_copy_resolve_it(sealed, members, orgs):
    from django.test import Client

    from webapp.verify.models import Case

    _, output = sealed
    manifest_url = f"{BASE}/manifests/{output.manifest_label}"
    store = client_for(members["producer"]).get(manifest_url).content
    verifier_b = make_member(orgs[1], "verifier")
    other = client_for(verifier_b)
    assert _matches(other, output.watermark_id).json() == {"matches": []}  # as if it were never issued
    assert other.get(manifest_url).status_code == 404
    anonymous = Client()
    assert _matches(anonymous, output.watermark_id).status_code in (401, 403)
    assert anonymous.get(manifest_url).status_code in (401, 403)
    assert anonymous.get(f"{BASE}/services/supportedAlgorithms").json() == {"watermarks": [{"alg": ALG}],
                                                                            "fingerprints": []}

    # Other House opens a case on a marked copy and its detector reads the ID (the runner stores it on the case;
    # the whole detector job runs in test_web_custody_scope): the copy's own manifest is now Other House's to read.
    Case.objects.create(organisation=orgs[1], title="tip", clip_path="x.mp4", original_name="tip.mp4",
                        sha256="0" * 64, size=1, created_by=verifier_b, watermark_id=output.watermark_id)
    assert _matches(other, output.watermark_id).json()["matches"][0]["manifestId"] == output.manifest_label
    assert other.get(manifest_url).content == store
    assert _matches(client_for(make_member(orgs[1], "producer", "b-producer")), output.watermark_id).json()["matches"]


def test_queries_that_name_no_faceproof_watermark_are_400_and_unknown_ones_find_nothing(members, web):
    from provenance.installation import Installation
    from provenance.registry import RegistryEntry, WatermarkRegistry
    from provenance.softbinding import binding_value

    client = client_for(members["verifier"])
    url = f"{BASE}/matches/byBinding"
    for query in ({"alg": "com.adobe.trustmark.Q", "value": binding_value(5)}, {"alg": ALG, "value": "not base64!"},
                  {"alg": ALG, "value": _b64("five")}, {"alg": ALG, "value": _b64("-5")},
                  {"alg": ALG, "value": binding_value(2**32)}, {"alg": ALG, "value": _b64("9" * 40)}, {"alg": ALG},
                  {"value": binding_value(5)}, {"alg": ALG, "value": binding_value(5), "maxResults": "0"}):
        response = client.get(url, query)
        assert response.status_code == 400 and response.json()["detail"], query
    for body in ({"alg": ALG}, {"alg": "x.y", "value": binding_value(5)}, {"alg": ALG, "value": "%%"}):
        assert client.post(url, body, content_type="application/json").status_code == 400, body

    assert _matches(client, 5).json() == {"matches": []}  # nothing sealed yet: no registry at all
    registry = WatermarkRegistry(Installation.from_environment().custody_db_path)
    registry.reserve(5)  # sealed by the CLI, no organisation's output: resolvable by no web user
    registry.record(RegistryEntry(5, "cli.mp4", "ab" * 32, "urn:c2pa:cli", "log", 1, 2, "cd" * 32), b"jumbf")
    registry.close()
    assert _matches(client, 5).json() == {"matches": []} and _matches(client, 6).json() == {"matches": []}
    assert client.get(f"{BASE}/manifests/urn:c2pa:cli").status_code == 404
    assert client.get(f"{BASE}/manifests/urn:c2pa:unknown").status_code == 404
