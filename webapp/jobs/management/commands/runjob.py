"""`faceproof runjob ID`: run one queued job in this process (the worker starts one such process per job)."""

from django.core.management.base import BaseCommand

from webapp.jobs import runner


class Command(BaseCommand):
    help = "Run one job of the web app's queue (normally started by the worker, not by hand)."

    def add_arguments(self, parser):
        parser.add_argument("job_id", type=int)

    def handle(self, *args, **options):
        runner.run(options["job_id"])
