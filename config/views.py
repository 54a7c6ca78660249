from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from accounts.roles import ROLE_LABELS, primary_role
from curation import selectors as curation_selectors


@login_required
def home(request):
    """Each role lands on its own start page."""
    role = primary_role(request.user)
    if role is None:
        return render(request, "home/no_role.html", status=403)
    context = {"role": role, "role_label": ROLE_LABELS[role]}
    context["prompt_counts"] = curation_selectors.prompt_status_counts()
    return render(request, f"home/{role.lower()}.html", context)


def root(request):
    return redirect("home")
