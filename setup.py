"""Build hook: ship the top-level ``manifest/`` folder (Teams manifest template and icons) inside
the wheel as ``bot/teams_app/template``, so ``wabridge manifest build`` works from any
installation. Everything else is configured in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MANIFEST_FILES = ("manifest.template.json", "color.png", "outline.png")


class BuildPyWithTeamsTemplate(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads manifest/ in the checkout
        source = Path(__file__).resolve().parent / "manifest"
        target = Path(self.build_lib) / "bot" / "teams_app" / "template"
        target.mkdir(parents=True, exist_ok=True)
        for name in MANIFEST_FILES:
            shutil.copyfile(source / name, target / name)


setup(cmdclass={"build_py": BuildPyWithTeamsTemplate})
