"""faceproof custody verify [BUNDLE] | prove --sha256 HASH | export -o FILE | log | checkpoint |
export-tiles DIR: the chain-of-custody log."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from tqdm import tqdm

from provenance.custody.bundle import BundleReport, export_bundle, verify_bundle
from provenance.custody.checkpoint import checkpoint_note, log_verifier
from provenance.custody.log import CustodyLog, LogReport, verify_log
from provenance.custody.tiles import export_tiles
from provenance.custody.timestamp import TimestampInfo, verify_timestamps
from provenance.custody.witness import cosigned_note, quorum_problem
from provenance.errors import CustodyError
from provenance.work import owner_of
from webapp.console.base import StageCommand


def _report_line(report: LogReport) -> str:
    if report.ok:
        return f"OK: {report.entries} entries, {report.checkpoints} signed checkpoints, all consistent"
    return f"FAILED: {report.problem}"


def _timestamp_json(size: int, info: TimestampInfo) -> dict:
    return {"size": size, "time": info.gen_time.isoformat(), "tsa": info.tsa, "tsa_sha256": info.tsa_fingerprint}


def _timestamp_lines(stamped: list[tuple[int, TimestampInfo]]) -> list[str]:
    if not stamped:
        return []
    size, latest = max(stamped, key=lambda pair: pair[0])
    return [f"{len(stamped)} RFC 3161 timestamps verify; the latest, of size {size}, at {latest.gen_time.isoformat()} "
            f"by {latest.tsa} (certificate SHA-256 {latest.tsa_fingerprint[:16]}...)"]


def _load_public_key(path: Path):
    try:
        return serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise CustodyError(f"{path}: not a PEM public key ({exc})") from None


def _event_line(event: dict) -> str:
    moved = " -> ".join(
        ", ".join(f"{a['name'] or a['sha256'][:12]}" for a in event[side]) or "-" for side in ("inputs", "outputs")
    )
    return f"#{event['seq']:<6} {event['time']}  {event['kind']:<9} {event['actor']:<20} {moved}  {event['reason']}"


class Command(StageCommand):
    help = "Verify, prove, export or list the chain-of-custody log (or verify an auditor bundle offline)."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        verify = actions.add_parser("verify", help="check a bundle (offline) or, without one, this installation's log")
        verify.add_argument("bundle", type=Path, nargs="?")
        verify.add_argument("--key", type=Path, help="the producer's custody public key (PEM), obtained out of band")
        verify.add_argument("--known", type=Path, help="a checkpoint (JSON) kept from an earlier audit")
        verify.add_argument("--json", action="store_true")
        prove = actions.add_parser("prove", help="an asset's history, each event with its inclusion proof")
        prove.add_argument("--sha256", required=True)
        prove.add_argument("-o", "--output", type=Path, help="also write it as an asset bundle for an auditor")
        prove.add_argument("--json", action="store_true")
        export = actions.add_parser("export", help="write an auditor bundle: events, checkpoints, proofs, keys")
        export.add_argument("-o", "--output", type=Path, required=True)
        export.add_argument("--sha256", help="only this asset's history (with inclusion proofs)")
        export.add_argument("--known-size", type=int, help="add a consistency proof from this earlier tree size")
        checkpoint = actions.add_parser("checkpoint", help="print the latest checkpoint as a C2SP signed note, with its witnesses' cosignatures")
        checkpoint.add_argument("--new", action="store_true",
                                help="first sign the current head as a new checkpoint (needs the key's passphrase)")
        checkpoint.add_argument("--vkey", action="store_true",
                                help="instead, print the log's verifier key (name+id+key), for monitors and witnesses")
        checkpoint.add_argument("--timestamp", type=Path, metavar="FILE",
                                help="also write its RFC 3161 timestamp token (DER) there, for `openssl ts -verify "
                                     "-token_in`; the note it stamps is what this prints without cosignatures")
        tiles = actions.add_parser("export-tiles", help="write the log as static tiles (c2sp.org/tlog-tiles) for a mirror")
        tiles.add_argument("directory", type=Path)
        listing = actions.add_parser("log", help="print the latest events")
        listing.add_argument("--limit", type=int, default=20)
        listing.add_argument("--open", action="store_true",
                             help="instead, the outputs whose making began and has not ended (signed or aborted)")

    def run(self, **options):
        action = options["action"]
        if action == "verify" and options["bundle"]:
            self._verify_bundle(options)
            return
        log = self.installation.custody_log(writable=action == "checkpoint" and options["new"])
        try:
            getattr(self, f"_{action.replace('-', '_')}")(log, options)
        finally:
            log.store.close()

    def _verify_bundle(self, options) -> None:
        known = json.loads(options["known"].read_text()) if options["known"] else None
        key = _load_public_key(options["key"]) if options["key"] else None
        report = verify_bundle(options["bundle"], trusted_public_key=key, known_checkpoint=known)
        self._print_verdict(report.to_json(), self._bundle_text(report), options["json"])
        if not report.ok:
            raise CustodyError(f"{options['bundle'].name}: verification failed: {report.log.problem or 'inconsistent with the known checkpoint'}")

    def _bundle_text(self, report: BundleReport) -> str:
        lines = [f"{report.scope} bundle, custody key {report.key_fingerprint[:16]}...", _report_line(report.log)]
        if report.key_from_bundle_only:
            lines.append("note: checked against the key inside the bundle; pass --key to pin the producer's key")
        if report.known_checkpoint_consistent is not None:
            lines.append(f"consistent with your earlier checkpoint: {report.known_checkpoint_consistent}")
        return "\n".join(lines)

    def _verify(self, log: CustodyLog, options) -> None:
        entries = ((e.body, e.leaf) for e in tqdm(log.store.entries(), total=log.store.size(), unit="event", desc="verify"))
        report = verify_log(entries, log.store.checkpoints(), log.public_key)
        stamped: list[tuple[int, TimestampInfo]] = []
        if report.ok and report.checkpoints:
            witnessing = quorum_problem(log.store, log.latest_checkpoint(), log.public_key, self.installation.witnesses)
            stamped, stamping = verify_timestamps(log.store, log.public_key)
            report = replace(report, problem=witnessing or stamping) if witnessing or stamping else report
        data = {**report.to_json(), "timestamps": [_timestamp_json(size, info) for size, info in stamped]}
        self._print_verdict(data, "\n".join([_report_line(report), *_timestamp_lines(stamped)]), options["json"])
        if not report.ok:
            raise CustodyError(f"custody log verification failed: {report.problem}")

    def _print_verdict(self, data: dict, text: str, as_json: bool) -> None:
        self.stdout.write(json.dumps(data, indent=2) if as_json else text)

    def _prove(self, log: CustodyLog, options) -> None:
        sha256 = options["sha256"].lower()
        seqs = log.store.lookup(f"sha256:{sha256}")
        if not seqs:
            raise CustodyError(f"no custody entry mentions {sha256}")
        proofs = log.inclusion_proofs(seqs)
        events = [log.entry(seq) for seq in seqs]
        if options["json"]:
            self.stdout.write(json.dumps([{"event": e, "proof": p.to_json()} for e, p in zip(events, proofs)], indent=2))
        else:
            checkpoint = proofs[0].checkpoint
            self.stdout.write(f"history of {sha256} (proofs against checkpoint size {checkpoint.size}, "
                              f"root {checkpoint.root.hex()}, {checkpoint.time}):")
            for event, proof in zip(events, proofs):
                self.stdout.write(_event_line(event))
                self.stdout.write(f"        leaf {proof.leaf.hex()}  path: {' '.join(h.hex()[:12] for h in proof.path) or '(root)'}")
        if options["output"]:
            self._write_bundle(log, options["output"], sha256, None)

    def _export(self, log: CustodyLog, options) -> None:
        self._write_bundle(log, options["output"], options["sha256"], options["known_size"])

    def _write_bundle(self, log: CustodyLog, output: Path, sha256: str | None, known_size: int | None) -> None:
        anchors = self.installation.key_store().trust_anchors_pem()
        path = export_bundle(log, output, sha256=sha256, known_size=known_size, trust_anchors_pem=anchors)
        self.stdout.write(f"auditor bundle written to {path} (check it with: faceproof custody verify {path.name})")

    def _checkpoint(self, log: CustodyLog, options) -> None:
        if options["vkey"]:
            self.stdout.write(log_verifier(log.public_key).vkey())
            return
        checkpoint = log.checkpoint() if options["new"] else log.latest_checkpoint()  # --new: witnesses cosign it
        self.stdout.write(cosigned_note(log.store, checkpoint, log.public_key), ending="")
        if options["timestamp"]:
            stamps = log.store.timestamps(checkpoint_note(checkpoint, log.public_key))
            if not stamps:
                raise CustodyError(f"the checkpoint of size {checkpoint.size} has no timestamp (is a TSA set with "
                                   "`faceproof keys tsa URL`, and did it answer?)")
            options["timestamp"].write_bytes(stamps[-1].token)

    def _export_tiles(self, log: CustodyLog, options) -> None:
        checkpoint = export_tiles(log, options["directory"])
        self.stdout.write(f"tiles of {checkpoint.size} entries and their checkpoint written to {options['directory']}")

    def _log(self, log: CustodyLog, options) -> None:
        if options["open"]:
            begun = log.open_operations()
            for event in begun:
                self.stdout.write(f"{_event_line(event)}  ({_operation(event)}; {_owner_state(event)})")
            self.stdout.write(f"{len(begun)} operation(s) begun and not ended: running now, or interrupted where no "
                              "extraction, conversion, training or `faceproof serve` has swept since")
            return
        size = log.store.size()
        for entry in log.store.entries(max(0, size - options["limit"])):
            self.stdout.write(_event_line(json.loads(entry.body)))


def _operation(begin: dict) -> str:
    """What a begun operation makes: a sealed output (by its watermark ID), or what its `operation` names."""
    parameters = begin["parameters"]
    return f"watermark ID {parameters['watermark_id']}" if "watermark_id" in parameters else parameters["operation"]


def _owner_state(begin: dict) -> str:
    owner = owner_of(begin["parameters"].get("owner", ""))
    if owner is None:
        return "its process was not recorded"
    if not owner.alive():
        return f"process {owner.pid} ended without finishing: the next sweep logs its abort"
    if begin["host"] != socket.gethostname():
        return f"process {owner.pid} on {begin['host']}: only that machine can tell whether it still runs"
    return f"process {owner.pid}: still running"
