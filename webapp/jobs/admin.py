from django.contrib import admin

from webapp.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("pk", "kind", "state", "organisation", "project", "created", "attempts")
    list_filter = ("kind", "state")
    readonly_fields = ("log", "error", "params", "result")
