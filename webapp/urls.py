"""Every page and API route; each view checks login, role and organisation itself (see accounts.access)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from webapp.custody import views as custody
from webapp.jobs import views as jobs
from webapp.projects import views as projects
from webapp.verify import views as verify

urlpatterns = [
    path("", projects.home, name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # producers
    path("projects/", projects.project_list, name="projects"),
    path("projects/<int:pk>/", projects.project_detail, name="project"),
    path("projects/<int:pk>/upload/", projects.upload, name="upload"),
    path("projects/<int:pk>/train/", projects.train, name="train"),
    path("projects/<int:pk>/convert/", projects.convert, name="convert"),
    path("projects/<int:pk>/model/<str:which>.png", projects.model_picture, name="model_picture"),
    path("identities/<int:pk>/", projects.identity_detail, name="identity"),
    path("identities/<int:pk>/extract/", projects.extract, name="extract"),
    path("identities/<int:pk>/faces/remove/", projects.remove_faces, name="remove_faces"),
    path("identities/<int:pk>/faces/<str:name>", projects.face_image, name="face_image"),
    path("outputs/<int:pk>/link/", projects.download_link, name="download_link"),
    path("download/", projects.download, name="download"),
    # jobs
    path("jobs/<int:pk>/", jobs.job_detail, name="job"),
    path("jobs/<int:pk>/status/", jobs.job_status, name="job_status"),
    path("jobs/<int:pk>/cancel/", jobs.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/resume/", projects.job_resume, name="job_resume"),
    # verifiers
    path("cases/", verify.case_list, name="cases"),
    path("cases/<int:pk>/", verify.case_detail, name="case"),
    path("cases/<int:pk>/report.<str:kind>", verify.case_report, name="case_report"),
    # auditors
    path("custody/", custody.index, name="custody"),
    path("custody/verify/", custody.verify_log, name="custody_verify"),
    path("custody/projects/<int:pk>/", custody.project_events, name="custody_project"),
    path("custody/assets/<str:sha256>/", custody.asset, name="custody_asset"),
    path("custody/assets/<str:sha256>/bundle.json", custody.asset_bundle, name="custody_asset_bundle"),
    path("custody/bundle.json", custody.full_bundle, name="custody_full_bundle"),
    path("api/", include("webapp.api.urls")),
]

# Error pages with the site's navigation and the reason (webapp.errors), whenever DEBUG is off.
handler400 = "webapp.errors.bad_request"
handler403 = "webapp.errors.permission_denied"
handler404 = "webapp.errors.page_not_found"
handler500 = "webapp.errors.server_error"
