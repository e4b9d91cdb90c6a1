"""End to end in a real headless Chromium against `faceproof serve` (web server + job worker, jobs in their own
processes): a producer logs in, creates a project, uploads two clips, records consent, extracts, trains a tiny
model, converts, downloads the signed output (it verifies as Trusted) and opens its custody history, each job
page ending in its result and next step; a verifier runs the Verify page on that output; a wrong address gives
the styled error page. The installation is made as the README says, with no migrate step by hand. Screenshots
of the main pages go to out/web_e2e/ (or $FACEPROOF_ARTIFACTS).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_file

pytestmark = [pytest.mark.slow, pytest.mark.needs_data]
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "a long e2e password"
UPLOAD_LIMIT_MB = 40  # above the clips uploaded here
CLIPS = {"Andrew": ("faces/styletalk_source/andrew_clip_1.mp4", 30), "Feifei": ("faces/styletalk_source/feifeili_clip2_short.mp4", 18)}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """A fresh installation in tmp_path served on a free loopback port; stopped (SIGTERM) afterwards."""
    env = {**os.environ, "FACEPROOF_HOME": str(tmp_path / "home"), "FACEPROOF_KEY_PASSPHRASE": "e2e passphrase",
           "FACEPROOF_WEB_PASSWORD": PASSWORD, "DJANGO_SETTINGS_MODULE": "webapp.settings",
           "FACEPROOF_MAX_UPLOAD_MB": str(UPLOAD_LIMIT_MB)}
    env.pop("FACEPROOF_DB_NAME", None)
    cli = [sys.executable, "-m", "webapp"]
    for name, role in (("pat", "producer"), ("vera", "verifier"), ("aud", "auditor")):
        subprocess.run([*cli, "webuser", name, "--org", "Studio", "--role", role], env=env, check=True, capture_output=True)
    port = _free_port()
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen([*cli, "serve", "--port", str(port), "--no-migrate"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/login/", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        process.terminate()
        pytest.fail(f"faceproof serve did not answer: {(tmp_path / 'serve.log').read_text()[-2000:]}")
    yield url, env
    process.terminate()
    process.wait(timeout=30)
    log.close()


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield chromium
        chromium.close()


@pytest.fixture
def shots() -> Path:
    folder = Path(os.environ.get("FACEPROOF_ARTIFACTS", REPO / "out")) / "web_e2e"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _login(page, url: str, user: str) -> None:
    page.goto(f"{url}/login/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def _wait_job(page, timeout_s: float = 300) -> None:
    """On a job page: the page's own script polls and reloads when the job ends."""
    page.wait_for_selector(".state.succeeded, .state.failed, .state.cancelled, .state.stopped", timeout=timeout_s * 1000)
    state = page.locator("[data-field=state_text]").first.inner_text()
    assert "Finished" in state, page.locator("[data-field=error]").first.inner_text() + page.locator("pre.log").inner_text()


def test_producer_and_verifier_walk_the_whole_flow(server, browser, shots, tmp_path):
    from provenance import manifest

    url, env = server
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    _login(page, url, "pat")
    page.fill("#id_name", "Interview dub")
    page.fill("#id_identity_a", "Andrew")
    page.fill("#id_identity_b", "Feifei")
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url("**/projects/*/")
    project_url = page.url

    oversize = tmp_path / "too big.mp4"
    with open(oversize, "wb") as handle:  # sparse: the browser reads its size, nothing has to be written
        handle.truncate((UPLOAD_LIMIT_MB + 10) * 2**20)
    page.set_input_files("#id_file", str(oversize))
    page.get_by_role("button", name="Upload").click()
    refused = page.wait_for_selector(".upload-refused").inner_text()
    assert refused == f"too big.mp4 is {UPLOAD_LIMIT_MB + 10} MB; the upload limit is {UPLOAD_LIMIT_MB} MB."
    assert page.url == project_url  # refused before anything was sent

    for name, (clip, _) in CLIPS.items():  # source footage per identity, then a target video
        page.set_input_files("#id_file", str(shared_file(clip)))
        page.select_option("#id_identity", label=name)
        page.get_by_role("button", name="Upload").click()
        assert "accepted as video" in page.inner_text(".messages")
    page.set_input_files("#id_file", str(shared_file("video/d0.mp4")))
    page.get_by_role("button", name="Upload").click()
    start = page.get_by_role("button", name="Start training")
    assert start.is_disabled() and "no recorded consent for Andrew, Feifei" in page.inner_text("#train-blocked")
    page.screenshot(path=shots / "01_project.png", full_page=True)

    form = tmp_path / "consent.pdf"
    form.write_bytes(b"%PDF-1.4\n% signed consent\n%%EOF\n")
    for index, (name, (_, every)) in enumerate(CLIPS.items()):
        page.goto(project_url)
        page.get_by_role("link", name="Consent, extraction and faces").nth(index).click()
        page.fill("#id_person", f"{name} Example")
        page.set_input_files("#id_document", str(form))
        page.get_by_role("button", name="Record consent").click()
        assert "recorded in the custody log" in page.inner_text(".messages")
        page.fill("#id_every", str(every))
        page.fill("#id_size", "64")
        page.get_by_role("button", name="Extract").click()
        _wait_job(page)
        result = page.wait_for_selector("[data-field=result]").inner_text()  # "N faces from M frames (...)"
        faces = int(result.split(" faces from ")[0])
        page.get_by_role("link", name="Review the faces").click()
        assert page.locator(".grid img").count() == faces >= 20 and f"Faces ({faces})" in page.content()
        page.screenshot(path=shots / f"02_faces_{name}.png", full_page=True)

    page.goto(project_url)
    page.select_option("#id_arch", "lite")
    page.fill("#id_iterations", "4")
    page.fill("#id_batch", "2")
    page.fill("#id_save_every", "2")
    page.get_by_role("button", name="Start training").click()
    _wait_job(page)
    assert page.wait_for_selector("[data-field=result]").inner_text().startswith("Iteration 4:")
    page.wait_for_function("document.querySelector('img.preview').naturalWidth > 0")
    page.screenshot(path=shots / "03_training.png", full_page=True)

    page.get_by_role("link", name="Convert with this model").click()
    page.select_option("#id_target", label="d0.mp4")
    page.locator("form[action$='/convert/'] #id_frames").fill("0:6")
    page.get_by_role("button", name="Convert").click()
    _wait_job(page)
    assert "frames swapped into" in page.wait_for_selector("[data-field=result]").inner_text()
    assert page.get_by_role("link", name="Custody history and proof").is_visible()
    page.screenshot(path=shots / "04_converted.png", full_page=True)
    page.goto(project_url)
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download (signed link)").click()
    delivered = tmp_path / "delivered.mp4"
    download_info.value.save_as(delivered)
    from provenance.keys import KeyStore

    anchors = KeyStore(Path(env["FACEPROOF_HOME"]) / "keys").trust_anchors_pem()
    assert manifest.verify(delivered, trust_anchors_pem=anchors).state == "Trusted"
    page.screenshot(path=shots / "04_outputs.png", full_page=True)
    missing = page.goto(f"{url}/projects/999999/")
    assert missing.status == 404 and "There is nothing here that you may see" in page.inner_text("main")
    assert page.get_by_role("link", name="Projects").is_visible()  # the navigation is still there
    page.screenshot(path=shots / "04_not_found.png", full_page=True)
    page.goto(project_url)

    page.get_by_role("link", name="custody history").click()
    events = page.locator("tbody tr:not(.proof) td:nth-child(3)").all_inner_texts()
    assert events == ["sign", "download"]
    page.screenshot(path=shots / "05_custody.png", full_page=True)

    from detector.score import default_path

    if not default_path().is_file():
        pytest.skip(f"producer flow passed; the Verify page needs the detector's calibration ({default_path()})")
    verifier = browser.new_page(viewport={"width": 1200, "height": 900})
    _login(verifier, url, "vera")
    verifier.set_input_files("#id_clip", str(delivered))
    verifier.fill("#id_title", "Is this real?")
    verifier.get_by_role("button", name="Analyse").click()
    verifier.wait_for_selector("#prov, [data-field=error]:not([hidden])", timeout=300_000)
    # The embedded full report (a sandboxed frame) really renders, with the same headline.
    embedded = verifier.frame_locator("iframe.report").locator("p.verdict").first
    embedded.wait_for(timeout=60_000)
    assert embedded.inner_text().startswith("Declared AI-generated, signed by")
    verifier.screenshot(path=shots / "06_verify.png", full_page=True)
    # Full-page screenshots leave a sandboxed frame blank: the report itself, as its frame shows it, separately.
    report = browser.new_page(viewport={"width": 1000, "height": 900})
    report.context.add_cookies(verifier.context.cookies())
    report.goto(url + verifier.get_attribute("iframe.report", "src"))
    report.screenshot(path=shots / "07_report.png", full_page=True)
    assert report.inner_text("p.verdict").startswith("Declared AI-generated, signed by")
    assert "Trusted" in verifier.inner_text("#prov + dl")
    # A sealed output leads with its own declaration, whatever the pixel analysis says.
    assert verifier.inner_text(".headline").startswith("Declared AI-generated, signed by")

    # The auditor checks the whole log and reads the project's trail, with the verifier's check in it.
    auditor = browser.new_page(viewport={"width": 1200, "height": 900})
    _login(auditor, url, "aud")
    auditor.goto(f"{url}/custody/")
    auditor.get_by_role("button", name="Verify the whole log").click()
    assert auditor.get_by_role("status").inner_text().startswith("✔ OK")
    auditor.get_by_role("link", name="Interview dub").click()
    kinds = auditor.locator("tbody tr:not(.proof) td:nth-child(3)").all_inner_texts()
    assert {"consent", "ingest", "extract", "train", "sign"} <= set(kinds)
    auditor.screenshot(path=shots / "08_auditor.png", full_page=True)
