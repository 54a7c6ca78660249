# Kept as a node of the migration graph (annotation depends on it). Its original field changes are already
# part of 0001_initial, which describes the current prompt store.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("curation", "0002_promptlog_append_only")]
    operations = []
