import json

from django.core.management.base import BaseCommand, CommandError

from llm.services import EndpointError, endpoint_upsert


class Command(BaseCommand):
    help = "Register (or update) an OpenAI-compatible model endpoint. The key stays in an environment variable."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--base-url", required=True)
        parser.add_argument("--model", required=True)
        parser.add_argument("--api-key-env", default="", help="NAME of the environment variable holding the key")
        parser.add_argument("--max-concurrency", type=int, default=4)
        parser.add_argument("--requests-per-minute", type=int, default=600)
        parser.add_argument("--timeout", type=float, default=60.0)
        parser.add_argument("--params", default="{}", help='default generation params as JSON, e.g. {"top_p": 0.9}')
        parser.add_argument("--reasoning", action="store_true", help="the model emits <think> reasoning")
        parser.add_argument("--notes", default="")

    def handle(self, *args, **options):
        try:
            params = json.loads(options["params"])
        except ValueError as exc:
            raise CommandError(f"--params is not valid JSON: {exc}")
        try:
            endpoint, created = endpoint_upsert(
                name=options["name"], base_url=options["base_url"], model=options["model"],
                api_key_env=options["api_key_env"], max_concurrency=options["max_concurrency"],
                requests_per_minute=options["requests_per_minute"], timeout=options["timeout"],
                default_params=params, is_reasoning=options["reasoning"], notes=options["notes"],
            )
        except (EndpointError, ValueError) as exc:
            raise CommandError(str(exc))
        self.stdout.write(f"{'created' if created else 'updated'} endpoint {endpoint.name} -> {endpoint.base_url} "
                          f"({endpoint.model}, max_concurrency={endpoint.max_concurrency})")
