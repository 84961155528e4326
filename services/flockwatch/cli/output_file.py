"""Where the analysis commands write their JSON lines: one opener, one error for a place that cannot be written."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import typer


def open_output(output: Path, option: str = "--output") -> TextIO:
    """``output`` opened for writing as UTF-8, its folder created; a directory or an unwritable place is a usage
    error naming ``option``.

    A lone surrogate (an id read from JSON ``"\\ud800"``, a file name with bytes that are not UTF-8) is written as
    its JSON escape ``\\ud800`` (``backslashreplace``): strict UTF-8 would stop the run there, and a JSON reader
    reads the escape back as the same string."""
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        return output.open("w", encoding="utf-8", errors="backslashreplace")
    except FileExistsError as e:  # mkdir met a file where a folder of the path should be
        raise typer.BadParameter(f"cannot write {output}: {e.filename} is not a folder", param_hint=option) from e
    except OSError as e:
        raise typer.BadParameter(f"cannot write {output}: {e.strerror or e}", param_hint=option) from e
