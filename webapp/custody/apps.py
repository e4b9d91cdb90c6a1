from django.apps import AppConfig


class CustodyConfig(AppConfig):
    name = "webapp.custody"
    label = "custody"
