from django.contrib import admin
from django.urls import include, path
from shop import views

urlpatterns = [
    path("", views.product_list, name="product-list"),
    path("healthz", views.healthz, name="healthz"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("admin/", admin.site.urls),
    # railops: the health gate for Railway's healthcheck, metrics and the staff dashboard
    path("railops/", include("railops_django.urls")),
]
