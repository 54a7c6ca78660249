from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RoleChange(models.Model):
    """Append-only record of every role change made on the users page: who changed whose role, from what, to what.

    The usernames are copied, so the record still says who it was after a user is deleted (the keys then
    become NULL; on PostgreSQL a trigger refuses any other UPDATE and every DELETE).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    username = models.CharField(_("user"), max_length=150)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    actor_username = models.CharField(_("changed by"), max_length=150)
    old_role = models.CharField(_("old role"), max_length=32, blank=True)
    new_role = models.CharField(_("new role"), max_length=32, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("Role change")
        verbose_name_plural = _("Role changes")

    def __str__(self) -> str:
        return f"{self.username}: {self.old_role or '∅'} → {self.new_role or '∅'} ({self.actor_username})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("The role change log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The role change log is append-only")
