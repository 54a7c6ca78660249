import pytest


@pytest.fixture
def media(settings, tmp_path):
    """Exports go to a throw-away MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def freeze():
    """Create a draft and freeze it in-process: `freeze(holdout_fraction=0.2, parent=None, ...)`."""
    from curation import releases

    def run(*, actor=None, **draft):
        draft.setdefault("taxonomy", "v251030")
        release = releases.release_create_draft(actor=actor, **draft)
        return releases.release_freeze_now(release_id=release.pk, actor=actor)

    return run
