"""Two organisations on one installation share its custody log but never see each other's events: not on the case
page, in the detector's report (HTML, JSON), in `GET /api/cases/N/`, nor in the custody browser and its bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.web_fixtures import *  # noqa: F403  (fixtures)
from tests.web_fixtures import client_for, make_member, sealed_output_of, upload_of

pytestmark = pytest.mark.django_db


def _open_case(user, clip: Path, name: str, title: str, capture):
    from webapp.verify.models import Case

    client = client_for(user)
    with capture(execute=True):
        response = client.post("/cases/", {"clip": upload_of(clip, name), "title": title})
    case = Case.objects.get(organisation=user.membership.organisation, title=title)
    assert response.status_code == 302 and case.job.state == "succeeded", case.job.error
    return client, case


def _everything_a_verifier_is_shown(client, case) -> tuple[str, dict]:
    """The case page, the report's HTML and JSON files, and the API's case: all text a verifier can read of it."""
    page = client.get(f"/cases/{case.pk}/").content.decode()
    html = b"".join(client.get(f"/cases/{case.pk}/report.html").streaming_content).decode()
    raw = b"".join(client.get(f"/cases/{case.pk}/report.json").streaming_content).decode()
    api = client.get(f"/api/cases/{case.pk}/").json()
    assert api["report"] == json.loads(raw)
    return "\n".join((page, html, raw, json.dumps(api))), api["report"]


def test_another_organisation_sees_nothing_of_a_files_custody(project, members, orgs, web, tmp_path,
                                                              django_capture_on_commit_callbacks):
    from detector.score import default_path

    if not default_path().is_file():
        pytest.skip(f"the detector has no calibration file yet ({default_path()})")
    studio, other = orgs
    sealed = sealed_output_of(project, members["producer"], tmp_path)

    # Studio One checks its own output: the report links the watermark to the output and shows its custody.
    client_a, case_a = _open_case(members["verifier"], sealed, "a-private-tip.mp4", "Studio One private case",
                                  django_capture_on_commit_callbacks)
    shown_a, report_a = _everything_a_verifier_is_shown(client_a, case_a)
    assert report_a["provenance"]["registry"]["output_name"] == "alpha-secret-swap.mp4"
    kinds_a = {event["kind"] for event in report_a["provenance"]["custody"]}
    assert "sign" in kinds_a and "alpha-secret-swap.mp4" in shown_a
    assert all(event["actor"].endswith(f"@{studio.slug}") for event in report_a["provenance"]["custody"])

    # Other House receives the same bytes: it reads the watermark in the pixels, and nothing of Studio One's records.
    verifier_b, auditor_b = make_member(other, "verifier"), make_member(other, "auditor")
    client_b, case_b = _open_case(verifier_b, sealed, "b-tip.mp4", "Other House case",
                                  django_capture_on_commit_callbacks)
    assert case_b.sha256 == case_a.sha256
    shown_b, report_b = _everything_a_verifier_is_shown(client_b, case_b)
    assert report_b["provenance"]["watermark"]["present"] and report_b["provenance"]["registry"] is None
    # Holding a file with the mark, Other House may resolve it to the manifest the file carried (soft binding).
    from provenance.softbinding import binding_value
    from webapp.projects.models import Output

    output = Output.objects.get(project=project)
    assert case_a.watermark_id == case_b.watermark_id == output.watermark_id
    query = {"alg": "org.faceproof.watermark.v1", "value": binding_value(output.watermark_id)}
    assert client_b.get("/api/softbinding/v1/matches/byBinding", query).json()["matches"][0]["manifestId"] == \
        output.manifest_label
    assert all(event["actor"].endswith(f"@{other.slug}") for event in report_b["provenance"]["custody"])
    # (The file's own signed manifest names its consents, e.g. Studio One's identity: that is the file speaking,
    # readable by anyone who has it. What Studio One recorded here about its output and its case must not show.)
    for secret in (f"@{studio.slug}", "alpha-secret-swap", "a-private-tip", "Studio One private case",
                   f"case {case_a.pk}", members["verifier"].username):
        assert secret not in shown_b, secret

    # The custody browser and its bundles, page and API, for the asset both organisations hold.
    sha = case_a.sha256
    for auditor, own, foreign in ((members["auditor"], studio, other), (auditor_b, other, studio)):
        client = client_for(auditor)
        page = client.get(f"/custody/assets/{sha}/").content.decode()
        api = client.get(f"/api/custody/assets/{sha}/").json()
        bundle = json.loads(client.get(f"/custody/assets/{sha}/bundle.json").content)
        api_bundle = json.loads(client.get(f"/api/custody/assets/{sha}/bundle/").content)
        actors = [e["actor"] for e in api["events"]] + [json.loads(e["body"])["actor"] for b in (bundle, api_bundle)
                                                        for e in b["entries"]]
        assert actors and all(actor.endswith(f"@{own.slug}") for actor in actors), actors
        assert f"@{foreign.slug}" not in page and f"@{own.slug}" in page
    project_page = client_for(members["auditor"]).get(f"/custody/projects/{project.pk}/").content.decode()
    assert "<td>sign</td>" in project_page and f"@{other.slug}" not in project_page

    # An offline check of Other House's bundle still passes with only its own entries in it.
    from provenance.custody.bundle import verify_bundle

    path = tmp_path / "b.json"
    path.write_bytes(client_for(auditor_b).get(f"/custody/assets/{sha}/bundle.json").content)
    assert verify_bundle(path).ok


def test_an_auditor_sees_the_latest_checkpoint_of_the_shared_log_and_staff_see_its_history(members, orgs, web):
    from webapp.custody_log import append

    auditor = members["auditor"]
    append("ingest", "someone@other-house", inputs=[("c" * 64, "theirs.mp4")])
    api = client_for(auditor).get("/api/custody/").json()
    assert set(api) == {"checkpoint"} and api["checkpoint"]["size"] == 1
    page = client_for(auditor).get("/custody/").content.decode()
    assert "Tree size" in page and "Signed checkpoints" not in page and "<dt>Entries</dt>" not in page
    verified = client_for(auditor).post("/api/custody/verify/").json()
    assert verified == {"ok": True, "problem": None}
    auditor.is_staff = True
    auditor.save()
    api = client_for(auditor).get("/api/custody/").json()
    assert api["size"] == 1 and len(api["checkpoints"]) == 1
    assert "Signed checkpoints" in client_for(auditor).get("/custody/").content.decode()
    assert client_for(auditor).post("/api/custody/verify/").json()["entries"] == 1


def test_an_events_organisation_is_the_slug_after_the_actors_last_at(orgs):
    from webapp.custody_log import owner_slug, visible_to

    studio, other = orgs
    assert owner_slug({"actor": "ann@studio-one"}) == "studio-one"
    assert owner_slug({"actor": "root"}) is None and owner_slug({"actor": "@studio-one"}) is None
    # a user name may hold "@": only the slug the web app appends decides
    assert visible_to(other, {"actor": f"mallory@{studio.slug}@{other.slug}"})
    assert not visible_to(studio, {"actor": f"mallory@{studio.slug}@{other.slug}"})


def test_no_new_organisation_can_take_another_organisations_identity_names(orgs):
    """Identities are `<slug>-p<project>-<name>` in the shared log: an organisation named to continue another's
    prefix would share an identity's name, and a consent it records would count for the other's identity."""
    from tests.web_fixtures import make_member
    from webapp.accounts.models import Organisation
    from webapp.projects import services
    from webapp.projects.models import Identity

    studio, _ = orgs
    mine = services.create_project(make_member(studio, "producer"), studio, "p", "", ["ann", "bob"])
    tricky = Organisation.objects.create(name=f"{studio.slug} p{mine.pk} b")  # once slug "studio-one-p<N>-b"
    assert tricky.slug == f"{studio.slug}-p-{mine.pk}-b"
    theirs = services.create_project(make_member(tricky, "producer"), tricky, "q", "", ["x", "y"])
    lookalike = Identity.objects.create(project=mine, name=f"b-p{theirs.pk}-x")
    assert lookalike.custody_name == f"{studio.slug}-p{mine.pk}-b-p{theirs.pk}-x"
    assert theirs.identities.get(name="x").custody_name != lookalike.custody_name
    assert Organisation.objects.create(name="Studio p12").slug == "studio-p-12"
    tricky.name = "renamed"
    tricky.save()
    assert Organisation.objects.get(pk=tricky.pk).slug == f"{studio.slug}-p-{mine.pk}-b"  # an existing slug stays
