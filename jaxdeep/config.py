"""Settings of a pipeline (the study, an RBM run): a preset, then a file, then flags.

Precedence, lowest first: the field defaults, the preset's values, a TOML or JSON
config file, then the flags given on the command line (or keyword arguments in
Python). Each pipeline has a frozen dataclass of its settings, a :class:`Settings`:
``resolve`` builds it (:func:`resolve_settings`) and its ``checked`` method validates
every value before anything is computed.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["Settings", "read_config_file", "resolve_settings"]


class Settings:
    """Base of a pipeline's settings (a frozen dataclass with a ``preset`` field).

    A subclass names its presets and defines ``checked()``, which returns the settings
    validated (or raises a ValueError naming the bad value and what to do)::

        presets = PRESETS          # preset name → values
        what = "rbm"               # the word in error messages
        default_preset = "bas"
        follows = "dataset"        # presets named after this setting's values (or None)
    """

    presets: ClassVar[dict[str, dict[str, Any]]]
    what: ClassVar[str]
    default_preset: ClassVar[str]
    follows: ClassVar[str | None] = None

    @classmethod
    def resolve(cls, preset: str | None = None, file: str | Path | None = None,
                **overrides):
        """The preset's values, then the file's, then ``overrides`` (``None`` = not
        given), checked. The preset is ``preset`` if given, else the file's ``preset``,
        else the one named after the ``follows`` setting's value (the data set) when
        there is one, else ``default_preset``."""
        preset, values = resolve_settings(cls, cls.presets, cls.what, preset, file, overrides,
                                          default=cls.default_preset, follows=cls.follows)
        return cls(preset=preset, **values).checked()

    def checked(self):
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        """Every setting, sequences as lists (for JSON)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


def resolve_settings(cls, presets: dict[str, dict], what: str, preset: str | None,
                     file: str | Path | None, overrides: dict[str, Any], *, default: str,
                     follows: str | None = None) -> tuple[str, dict[str, Any]]:
    """The preset's name and the values of a ``cls`` (a dataclass) to build.

    The preset is ``preset`` if given, else the file's ``preset``, else — when presets
    are named after the values of a setting (``follows``, e.g. the data set) — that
    setting's value as given by ``overrides`` or the file, else ``default``. Its values,
    then the file's, then ``overrides`` (``None`` = not given). Unknown names, in the
    file or the overrides, are a ValueError naming the known ones.
    """
    values: dict[str, Any] = {}
    from_file = read_config_file(file) if file is not None else {}
    preset = preset or from_file.pop("preset", None)
    if preset is None and follows is not None:
        given = overrides.get(follows)
        given = from_file.get(follows) if given is None else given
        preset = given if given in presets else None
    preset = preset or default
    from_file.pop("preset", None)
    if preset not in presets:
        raise ValueError(f"unknown preset {preset!r}; choose one of: {', '.join(presets)}")
    values.update(presets[preset])
    values.update(from_file)
    values.update({k: v for k, v in overrides.items() if v is not None})
    known = [f.name for f in dataclasses.fields(cls) if f.name != "preset"]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} setting(s) {', '.join(unknown)}"
                         + (f" in {file}" if file else "") + f"; known: {', '.join(known)}")
    return preset, values


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a ``.toml`` or ``.json`` file (dashes in keys read as underscores)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist or is not a file")
    try:
        text = path.read_text()
        if path.suffix.lower() == ".toml":
            values = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            values = json.loads(text)
        else:
            raise ValueError(f"config file {path} must end in .toml or .json")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read config file {path}: {error}") from None
    if not isinstance(values, dict):
        raise ValueError(f"config file {path} must hold a table/object of settings at the top")
    return {k.replace("-", "_"): tuple(v) if isinstance(v, list) else v for k, v in values.items()}
