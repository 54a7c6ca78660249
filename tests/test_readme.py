"""The README documents what an operator sets: every environment variable the settings read is in its
configuration table and in `.env.example`, and the links it gives lead to files that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READS = re.compile(r"(?:env_bool|env_list|environ\.get|getenv)\(\s*\"([A-Z][A-Z0-9_]+)\"")


def _variables() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "config").glob("*.py"):
        names |= set(READS.findall(path.read_text(encoding="utf-8")))
    return names


def _section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_settings_read_environment_variables_at_all():
    # a guard for the pattern below: if the settings stopped matching it, the next test would pass vacuously
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "BIND"} <= _variables()


def test_every_environment_variable_is_in_the_readme_table_and_the_example_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = _section(readme, "Configuration")
    example = {line.split("=", 1)[0].strip() for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines()
               if "=" in line and not line.lstrip().startswith("#")}
    missing_readme = sorted(v for v in _variables() if f"`{v}`" not in table)
    missing_example = sorted(v for v in _variables() if v not in example)
    assert not missing_readme, f"not in README's configuration table: {missing_readme}"
    assert not missing_example, f"not in .env.example: {missing_example}"


def test_the_readme_links_to_files_that_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = {m.split("#", 1)[0] for m in re.findall(r"\]\(([^)\s]+)\)", readme) if "://" not in m}
    assert "docs/pipeline.svg" in targets
    assert not sorted(t for t in targets if t and not (ROOT / t).exists())
