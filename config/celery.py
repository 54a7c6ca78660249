import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Celery reads CELERY_BROKER_URL from the environment ahead of any setting. The host-less on-disk broker URL
# makes kombu warn "No hostname was supplied" on every connection (three times as a worker starts); the
# filesystem transport ignores the host, so complete the URL the way kombu would.
if os.environ.get("CELERY_BROKER_URL", "").rstrip("/") == "filesystem:":
    os.environ["CELERY_BROKER_URL"] = "filesystem://localhost//"

app = Celery("livesec")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _make_queue_folders(sender, **kwargs):
    # The on-disk broker of the embedded setup expects its folders to exist.
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)
