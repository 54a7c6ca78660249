"""The import graph (scripts/check_imports.py): no circle between files, no app importing one above it."""

import importlib.util
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports", ROOT / "scripts" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_project_has_no_import_circles_and_no_upward_imports():
    assert _checker().problems() == []


@pytest.fixture
def tree(tmp_path):
    """A throw-away project: `tree({"curation/a.py": "..."})` writes the files (and the packages' __init__.py)."""

    def write(files: dict[str, str]) -> Path:
        for rel, text in files.items():
            path = tmp_path / rel
            for parent in path.relative_to(tmp_path).parents:
                if str(parent) != ".":
                    (tmp_path / parent).mkdir(exist_ok=True)
                    (tmp_path / parent / "__init__.py").touch()
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        return tmp_path

    return write


def test_a_circle_through_an_import_inside_a_function_is_found(tree):
    root = tree({
        "releases/services.py": "def freeze():\n    from .tasks import freeze_task\n",
        "releases/tasks.py": "from releases import services\n",
        "releases/views.py": "from . import services\n",
    })
    assert _checker().problems(root) == ["import circle: releases.services -> releases.tasks"]


def test_an_app_importing_one_above_it_is_found(tree):
    root = tree({
        "curation/services.py": "def load():\n    from generation.services import seed\n",
        "generation/services.py": "from curation.models import Prompt\n",
        "curation/models.py": "",
        "evaluation/report.py": "from releases.models import Release\nfrom generation import models\n",
        "releases/models.py": "",
        "generation/models.py": "",
        "llm/simulator.py": "import curation.text\n",
        "curation/text.py": "",
        "cycles/services.py": "from generation import services\nfrom evaluation import report\n",
    })
    assert _checker().problems(root) == [
        "upward import: curation.services imports generation.services",
        "upward import: evaluation.report imports generation.models",
        "upward import: llm.simulator imports curation.text",
    ]
