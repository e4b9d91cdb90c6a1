from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "webapp.projects"
    label = "projects"

    def ready(self) -> None:
        from webapp.projects.work import register_kinds  # it imports models, which load only once apps are ready

        register_kinds()
