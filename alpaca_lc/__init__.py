"""alpaca-lc: auto-annotated and length-controlled win rates for chat LLMs."""

from pathlib import Path

__version__ = "0.1.0"


def package_file(*parts: str) -> Path:
    """A file shipped inside the package (prompts, bundled calibrations and subsets, model configs). Installs
    are unpacked directories, so a path beside this module; importlib.resources would cost every command
    6 ms of imports (it pulls in tempfile) for the same answer."""
    return Path(__file__).parent.joinpath(*parts)
