"""faceproof witness init DIR --name NAME | vkey DIR | serve DIR --log VKEY [--listen HOST:PORT]: a witness."""

from __future__ import annotations

from pathlib import Path

from provenance.custody.note import verifier_from_vkey
from provenance.custody.witness import Witness, serve
from provenance.errors import CustodyError
from webapp.console.base import StageCommand

DEFAULT_LISTEN = "127.0.0.1:8470"


class Command(StageCommand):
    help = ("Run a witness of other installations' custody logs (c2sp.org/tlog-witness): it cosigns a checkpoint "
            "only when it extends the last one it saw.")

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        init = actions.add_parser("init", help="create a witness (its key and name) in a new folder")
        init.add_argument("state", type=Path)
        init.add_argument("--name", required=True, help="its key name, a schema-less URL such as witness.example/w1")
        vkey = actions.add_parser("vkey", help="print the witness's verifier key, for the logs it witnesses")
        vkey.add_argument("state", type=Path)
        run = actions.add_parser("serve", help="answer add-checkpoint and /<origin hash>/checkpoint over HTTP")
        run.add_argument("state", type=Path)
        run.add_argument("--log", action="append", required=True, dest="logs",
                         help="a log's verifier key (faceproof custody checkpoint --vkey); repeat for more logs")
        run.add_argument("--listen", default=DEFAULT_LISTEN, help=f"host:port (default {DEFAULT_LISTEN})")

    def run(self, **options):
        if options["action"] == "init":
            witness = Witness.init(options["state"], options["name"])
        else:
            witness = Witness(options["state"])
        try:
            if options["action"] == "serve":
                self._serve(witness, options)
            else:
                self.stdout.write(witness.verifier.vkey())
        finally:
            witness.close()

    def _serve(self, witness: Witness, options) -> None:
        logs = [verifier_from_vkey(vkey) for vkey in options["logs"]]
        host, _, port = options["listen"].rpartition(":")
        if not host or not port.isdigit():
            raise CustodyError(f"--listen wants host:port, got {options['listen']!r}")
        server = serve(witness, logs, host, int(port))
        self.stdout.write(f"witness {witness.verifier.vkey()} on http://{host}:{server.server_port} for "
                          f"{', '.join(v.name for v in logs)}")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
