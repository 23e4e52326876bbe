from django.contrib import admin
from django.urls import path
from shop import views

urlpatterns = [
    path("", views.product_list, name="product-list"),
    path("healthz", views.healthz, name="healthz"),
    path("products/<int:pk>/", views.product_detail, name="product-detail"),
    path("admin/", admin.site.urls),
]
