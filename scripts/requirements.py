"""Print the dependencies declared in pyproject.toml (runtime and test), one per line, for pip -r.

The project runs from its checkout and is not itself installed into the venv."""

import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
    print(requirement)
