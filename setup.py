"""Build step that pyproject.toml cannot express: the files a WebUI expects at the extension
root (`policy/`, `style.css`, `javascript/`), and `demo/` for `sonic-ext demo`, also go into
the wheel, as package data under `sonic_ext/data`, so an installed package is self-contained
(`sonic_ext/package_data.py` finds them either way). Everything else is in pyproject.toml."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ROOT_ASSETS = ("policy/default.toml", "policy/schema.json", "style.css", "javascript/*.js",
               "demo/portrait.jpg", "demo/release.pdf")


class BuildPyWithRootAssets(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "sonic_ext" / "data"
        for pattern in ROOT_ASSETS:
            for source in sorted(ROOT.glob(pattern)):
                dest = target / source.relative_to(ROOT)
                self.mkpath(str(dest.parent))
                self.copy_file(str(source), str(dest))


setup(cmdclass={"build_py": BuildPyWithRootAssets})
