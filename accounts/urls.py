from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from . import views
from .forms import LoginForm

app_name = "accounts"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="accounts/login.html", authentication_form=LoginForm),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("home/", RedirectView.as_view(pattern_name="home"), name="home"),
    path("users/", views.user_list, name="users"),
    path("users/<int:pk>/role/", views.user_role, name="user_role"),
]
