"""The command line's argument parser: argparse with errors on one line.

argparse prints the whole usage before an error; for a command with twenty options that buries
the one line that matters, and scripts that log stderr get a paragraph per mistake. The usage
stays one ``--help`` away.
"""

from __future__ import annotations

import argparse
from typing import NoReturn


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
