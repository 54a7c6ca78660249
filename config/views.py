from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from accounts.roles import ANNOTATOR, ROLE_LABELS, primary_role
from annotation import selectors as annotation_selectors
from curation import selectors as curation_selectors


@login_required
def home(request):
    """Each role lands on its own start page; an annotator's shows the queues with work waiting for them
    and where to continue."""
    role = primary_role(request.user)
    if role is None:
        return render(request, "home/no_role.html", status=403)
    context = {"role": role, "role_label": ROLE_LABELS[role]}
    context["prompt_counts"] = curation_selectors.prompt_status_counts()
    if role == ANNOTATOR:
        context.update(annotation_selectors.annotator_home(user=request.user))
    return render(request, f"home/{role.lower()}.html", context)


def root(request):
    return redirect("home")
