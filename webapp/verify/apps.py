from django.apps import AppConfig


class VerifyConfig(AppConfig):
    name = "webapp.verify"
    label = "verify"

    def ready(self) -> None:
        from webapp.verify.work import register_kinds  # it imports models, which load only once apps are ready

        register_kinds()
