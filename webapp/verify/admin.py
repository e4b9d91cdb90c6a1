from django.contrib import admin

from webapp.verify.models import Case

admin.site.register(Case)
