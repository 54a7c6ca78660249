from django import forms
from django.contrib import admin

from accounts.roles import is_maintainer

from . import services
from .models import LLMCall, ModelEndpoint


class ModelEndpointAdminForm(forms.ModelForm):
    base_url = forms.URLField(max_length=500, assume_scheme="http")  # as on the endpoint page

    class Meta:
        model = ModelEndpoint
        fields = list(services.ENDPOINT_FIELDS)

    def clean(self):
        data = super().clean()
        try:
            services.endpoint_validate({k: v for k, v in data.items() if k in services.ENDPOINT_FIELDS})
        except services.EndpointError as exc:
            raise forms.ValidationError(str(exc))
        return data


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    """Endpoints decide where the site sends requests: only maintainers and admins may see or change them here
    (as on the endpoint pages and API), whatever model permissions a staff account holds; writes go through
    the llm services like every other."""

    form = ModelEndpointAdminForm
    list_display = ["name", "model", "base_url", "max_concurrency", "requests_per_minute", "is_reasoning"]
    search_fields = ["name", "model", "base_url"]

    def has_module_permission(self, request):
        return is_maintainer(request.user) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_maintainer(request.user) and super().has_view_permission(request, obj)

    def has_add_permission(self, request):
        return is_maintainer(request.user) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return is_maintainer(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_maintainer(request.user) and super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        fields = {f: form.cleaned_data[f] for f in services.ENDPOINT_FIELDS if f in form.cleaned_data}
        if change:
            saved = services.endpoint_update(endpoint=ModelEndpoint.objects.get(pk=obj.pk),
                                             **{f: fields[f] for f in form.changed_data if f in fields})
        else:
            saved = services.endpoint_create(**fields)
        # The admin goes on with `obj` (its change message, the redirect): make it the saved row.
        obj.pk = saved.pk
        obj._state.adding = False
        obj._state.db = saved._state.db


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ["created_at", "endpoint_name", "model", "purpose", "outcome", "attempts", "latency_ms", "cached"]
    list_filter = ["outcome", "cached", "endpoint_name"]
    readonly_fields = [f.name for f in LLMCall._meta.fields]

    def has_add_permission(self, request):
        return False
