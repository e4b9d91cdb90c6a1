from django.urls import path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.renderers import JSONOpenAPIRenderer
from rest_framework.schemas import get_schema_view

from webapp.api import softbinding, views

urlpatterns = [
    path("token/", obtain_auth_token, name="api_token"),
    path("me/", views.Me.as_view(), name="api_me"),
    path("projects/", views.Projects.as_view(), name="api_projects"),
    path("projects/<int:pk>/", views.ProjectDetail.as_view(), name="api_project"),
    path("projects/<int:pk>/uploads/", views.Uploads.as_view(), name="api_uploads"),
    path("projects/<int:pk>/train/", views.Train.as_view(), name="api_train"),
    path("projects/<int:pk>/convert/", views.Convert.as_view(), name="api_convert"),
    path("identities/<int:pk>/consent/", views.Consent.as_view(), name="api_consent"),
    path("identities/<int:pk>/extract/", views.Extract.as_view(), name="api_extract"),
    path("identities/<int:pk>/faces/", views.Faces.as_view(), name="api_faces"),
    path("outputs/<int:pk>/link/", views.DownloadLink.as_view(), name="api_download_link"),
    path("jobs/", views.Jobs.as_view(), name="api_jobs"),
    path("jobs/<int:pk>/", views.JobDetail.as_view(), name="api_job"),
    path("jobs/<int:pk>/cancel/", views.JobCancel.as_view(), name="api_job_cancel"),
    path("cases/", views.Cases.as_view(), name="api_cases"),
    path("cases/<int:pk>/", views.CaseDetail.as_view(), name="api_case"),
    path("custody/", views.Custody.as_view(), name="api_custody"),
    path("custody/verify/", views.CustodyVerify.as_view(), name="api_custody_verify"),
    path("custody/assets/<str:sha256>/", views.CustodyAsset.as_view(), name="api_custody_asset"),
    path("custody/assets/<str:sha256>/bundle/", views.CustodyAssetBundle.as_view(), name="api_custody_asset_bundle"),
    path("custody/tlog/<path:resource>", views.CustodyTiles.as_view(), name="api_custody_tiles"),
    # C2PA Soft Binding Resolution API (paths as the C2PA's OpenAPI description names them)
    path("softbinding/v1/services/supportedAlgorithms", softbinding.SupportedAlgorithms.as_view(),
         name="softbinding_algorithms"),
    path("softbinding/v1/matches/byBinding", softbinding.ByBinding.as_view(), name="softbinding_by_binding"),
    path("softbinding/v1/manifests/<str:manifest_id>", softbinding.Manifest.as_view(), name="softbinding_manifest"),
    path("schema/", get_schema_view(title="faceproof API", version="1", public=True,
                                    renderer_classes=[JSONOpenAPIRenderer],
                                    description="Token auth: POST /api/token/ {username, password}, then "
                                                "`Authorization: Token KEY`."), name="api_schema"),
]
