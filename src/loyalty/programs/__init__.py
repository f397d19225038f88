"""Programs as data: the schema of a program file, the TOML loader and the bundled presets."""

from loyalty.programs.loader import PRESETS, load_program, program_from_dict
from loyalty.programs.schema import Program

__all__ = ["PRESETS", "Program", "load_program", "program_from_dict"]
