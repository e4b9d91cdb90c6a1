"""`faceproof serve`: the web app and one job worker in one process; nothing else to start."""

from __future__ import annotations

import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from huey.consumer_options import ConsumerConfig
from huey.contrib.djhuey import HUEY

from webapp.custody_log import ensure_keys
from webapp.errors import MULTIPART_SLACK
from webapp.jobs.tasks import sweep_media_at_start


class Command(BaseCommand):
    help = "Serve the web app (waitress) and run one job worker beside it. Ctrl+C stops both."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8, help="web request threads")
        parser.add_argument("--workers", type=int, default=1, help="jobs that may run at once")
        parser.add_argument("--no-migrate", action="store_true", help="do not bring the database schema up to date")
        parser.add_argument("--no-worker", action="store_true",
                            help="web only: jobs run on workers started elsewhere (`faceproof run_huey`, Redis queue)")

    def handle(self, *args, **options):
        from waitress import create_server

        from webapp.wsgi import application

        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        ensure_keys()  # the signing and custody keys exist before the first job needs them
        swept = sweep_media_at_start()  # its job workers find it done as they start
        if swept:
            self.stdout.write(f"faceproof: removed {len(swept)} fragment(s) of interrupted work (logged as aborted)")
        # The app refuses an upload over the limit itself, with its page naming the limit (webapp.errors); waitress's
        # bare 413 only bounds what it spools to disk before the app sees the request: twice the limit.
        server = create_server(application, host=options["host"], port=options["port"], threads=options["threads"],
                               max_request_body_size=2 * settings.FACEPROOF_MAX_UPLOAD_BYTES + MULTIPART_SLACK)
        workers = 0 if options["no_worker"] else options["workers"]
        self.stdout.write(f"faceproof: http://{options['host']}:{options['port']}/ (data in {settings.FACEPROOF_HOME}); "
                          f"{workers} job worker(s) here", ending="\n")
        self.stdout.flush()
        if not workers:
            server.run()
            return
        threading.Thread(target=server.run, name="web", daemon=True).start()
        config = ConsumerConfig(**{**settings.HUEY.get("consumer", {}), "workers": workers})
        config.validate()
        consumer = HUEY.create_consumer(**config.values)
        try:
            consumer.run()  # in the main thread: it owns the signal handlers (SIGINT/SIGTERM stop cleanly)
        finally:
            server.close()
