"""(slow) A real faceproof swap: it scores higher than its source clip, and the report carries its whole
provenance: a trusted C2PA manifest, the watermark ID, the registry record and the custody history."""

from __future__ import annotations

import pytest

from detector import analyse
from provenance.custody.log import sha256_file
from provenance.installation import Installation
from swapcore.convert import convert
from tests.test_convert import model_dir, sealer, short_clip  # noqa: F401  (fixtures: lite model, keys, d3 clip)

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]


def test_faceproof_swap_scores_higher_and_its_provenance_is_reported(short_clip, model_dir, sealer, tmp_path):  # noqa: F811
    output = tmp_path / "swap.mp4"
    convert(short_clip, model_dir, output, sealer=sealer, actor="detector test")
    installation = Installation.from_environment()  # the one the sealer fixture sealed with
    swapped, original = analyse(output, installation=installation), analyse(short_clip, installation=installation)

    assert swapped.probability > original.probability
    provenance = swapped.provenance
    assert provenance.c2pa["state"] == "Trusted" and provenance.c2pa["ai_generated"]
    mark = provenance.watermark
    assert mark["tested"] and mark["present"] and mark["watermark_id"] is not None
    assert provenance.registry["watermark_id"] == mark["watermark_id"]
    assert provenance.registry["output_sha256"] == sha256_file(output)
    assert "sign" in {event.get("kind") for event in provenance.custody}
    page = swapped.write_html(tmp_path / "swap.html").read_text()
    assert "faceproof watermark found" in page and provenance.registry["output_name"] in page
    assert original.provenance.c2pa["state"] == "NoManifest" and not original.provenance.registry
    alone = analyse(output)  # the file alone: signed, but by a signer nobody said to trust, and no registry
    assert alone.provenance.c2pa["state"] == "Valid" and not alone.provenance.registry
