"""Demo endpoints on the local simulator, so generation works offline (`manage.py seed_demo`)."""

import os

from .simulator import MODELS

SIM_URL = os.environ.get("LIVESEC_SIM_URL", "http://127.0.0.1:8765/v1")
# The simulator accepts any key; the variable may stay unset.
SIM_KEY_ENV = "LIVESEC_SIM_API_KEY"


def seed_endpoints(stdout) -> None:
    from .models import ModelEndpoint
    from .services import endpoint_create

    created = []
    for model in MODELS:
        if ModelEndpoint.objects.filter(name=model).exists():
            continue  # keep whatever a maintainer changed
        endpoint_create(
            name=model, base_url=SIM_URL, model=model, api_key_env=SIM_KEY_ENV,
            max_concurrency=8 if model != "tiny-markov" else 2, requests_per_minute=0, timeout=30,
            is_reasoning=model.startswith("sim-reasoner"),
            notes="Local simulator (manage.py llm_simulator)"
            + ("; a tiny character n-gram model that rambles" if model == "tiny-markov" else ""),
        )
        created.append(model)
    stdout.write(f"simulator endpoints at {SIM_URL}: {', '.join(created) if created else 'already there'}")
