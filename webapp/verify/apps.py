from django.apps import AppConfig


class VerifyConfig(AppConfig):
    name = "webapp.verify"
    label = "verify"
