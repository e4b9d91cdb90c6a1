from django.contrib import admin

from webapp.projects.models import Identity, Output, Project, Upload

for model in (Project, Identity, Upload, Output):
    admin.site.register(model)
