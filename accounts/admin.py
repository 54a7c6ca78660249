from django.contrib import admin

from .models import RoleChange


@admin.register(RoleChange)
class RoleChangeAdmin(admin.ModelAdmin):
    """Read only: the log is written by `accounts.services.user_set_role` alone."""

    list_display = ("created_at", "username", "old_role", "new_role", "actor_username")
    list_filter = ("new_role",)
    search_fields = ("username", "actor_username")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
