"""Settings of a pipeline (the study, an RBM run): a preset, then a file, then flags.

Precedence, lowest first: the field defaults, the preset's values, a TOML or JSON
config file, then the flags given on the command line (or keyword arguments in
Python). A config file holds the settings by their names (``eval_every = 50``); a
setting that may be left empty takes ``"none"`` (TOML has no null), as its flag does.
The places a config file names (``out``, ``data_dir``, ``checkpoint_dir``) are relative to
the file's own folder, and those it writes to must lie inside it: a shared config file
cannot send reports over files elsewhere (a flag on the command line can).
Each pipeline has a frozen dataclass of its settings, a :class:`Settings`:
``resolve`` builds it (:func:`resolve_settings`) and its ``checked`` method validates
every value before anything is computed.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["Settings", "flag", "read_config_file", "resolve_settings"]


def flag(name: str, flags: dict[str, str] | None = None) -> str:
    """A setting's name as messages give it: ``lr_end (--lr-end)``, the name in a config
    file and in Python, and the flag on the command line (``flags`` names those that are
    not the name with dashes, e.g. ``{"learning_rate": "--lr"}``)."""
    return f"{name} ({(flags or {}).get(name, '--' + name.replace('_', '-'))})"


class Settings:
    """Base of a pipeline's settings (a frozen dataclass with a ``preset`` field).

    A subclass names its presets and defines ``checked()``, which returns the settings
    validated (or raises a ValueError naming the bad value and what to do)::

        presets = PRESETS          # preset name → values
        what = "rbm"               # the word in error messages
        default_preset = "bas"
        follows = "dataset"        # presets named after this setting's values (or None)
        flags = {"k": "-k"}        # flags that are not the setting's name with dashes
    """

    presets: ClassVar[dict[str, dict[str, Any]]]
    what: ClassVar[str]
    default_preset: ClassVar[str]
    follows: ClassVar[str | None] = None
    #: Settings whose command-line flag is not their name with dashes.
    flags: ClassVar[dict[str, str]] = {}
    #: Settings for which "none" is one of the values, not the empty setting (a
    #: corruption of kind none): the text is kept as it is.
    none_is_a_value: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def flag(cls, name: str) -> str:
        """``name (--flag)``: how messages name a setting (:func:`flag`)."""
        return flag(name, cls.flags)

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
    if file is not None:
        from_file = _places_from_file(from_file, file, overrides, getattr(cls, "flags", {}))
    preset = preset or from_file.pop("preset", None)
    if preset is None and follows is not None:
        given = overrides.get(follows)
        given = from_file.get(follows) if given is None else given
        preset = given if isinstance(given, str) and given in presets else None
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
    hints = typing.get_type_hints(cls)
    flags = getattr(cls, "flags", {})
    for name, value in values.items():
        if name in getattr(cls, "none_is_a_value", ()) and isinstance(value, str):
            continue  # "none" names a choice here (the config checks its choices)
        values[name] = _of_type(flag(name, flags), value, hints[name], file)
    return preset, values


def _of_type(named: str, value: Any, kind: Any, file) -> Any:
    """``value`` if it is of the field's type (a path given for text becomes text), else a
    ValueError saying what the setting takes — so a wrong type in a config file or a
    Python call is named, not a TypeError from deep inside."""
    options = typing.get_args(kind) if isinstance(kind, types.UnionType) else (kind,)
    if type(None) in options and (value is None or (isinstance(value, str)
                                                     and value.lower() == "none")):
        return None  # TOML has no null: "none" says it (as the flags do)
    for option in options:
        origin = typing.get_origin(option)
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return value
        if option is float and isinstance(value, numbers.Real) and not isinstance(value, bool):
            return value
        if option is str and isinstance(value, (str, os.PathLike)):
            return str(value) if isinstance(value, os.PathLike) else value
        if origin is tuple and isinstance(value, (list, tuple, str)):
            return value  # the elements are the config's own check (a comma list is text)
    wanted = " or ".join(_WORDS.get(o, _WORDS.get(typing.get_origin(o), str(o)))
                         for o in options)
    raise ValueError(f"{named} must be {wanted}; got {value!r}"
                     + (f" in {file}" if file else ""))


#: Settings that name places. A config file's are read relative to the file's own folder
#: (as an ``#include`` is, not relative to wherever the command happens to run), and the
#: places it writes to must lie inside that folder.
_READ_FROM = ("data_dir",)
_WRITTEN_TO = ("out", "checkpoint_dir")


def _places_from_file(values: dict[str, Any], file, overrides: dict[str, Any],
                      flags: dict[str, str]) -> dict[str, Any]:
    """``values`` with the places a config file names made relative to its folder; a
    ValueError when a place it writes to lies outside that folder (``../..``, an absolute
    path): someone else's config file must not decide which of your files are
    overwritten. A place given on the command line (``overrides``) is the user's own
    choice and is not checked here."""
    home = Path(file).expanduser().resolve().parent
    values = dict(values)
    for name in _READ_FROM + _WRITTEN_TO:
        value = values.get(name)
        if (not isinstance(value, str) or value.lower() == "none"
                or overrides.get(name) is not None):
            continue
        if not value.strip():
            raise ValueError(f"{flag(name, flags)} is empty in config file {file}; name a "
                             "folder (\".\" for the config file's own)")
        place = (home / Path(value).expanduser()).resolve()
        if name in _WRITTEN_TO and not place.is_relative_to(home):
            raise ValueError(
                f"config file {file} sets {name} = {value!r}, outside the folder the file is "
                f"in ({home}); a config file writes only inside its own folder. Give a "
                f"folder inside it, or pass {flag(name, flags).split(' ')[-1].strip('()')} "
                "on the command line")
        values[name] = os.path.relpath(place)
    return values


_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "text",
          tuple: "a list", type(None): "nothing (none)"}


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
    names: dict[str, str] = {}
    for key in values:  # train-size and train_size are one setting: given twice, refused
        other = names.setdefault(key.replace("-", "_"), key)
        if other != key:
            raise ValueError(f"config file {path} sets {key.replace('-', '_')} twice (as "
                             f"{other!r} and {key!r}); keep one")
    return {k.replace("-", "_"): tuple(v) if isinstance(v, list) else v for k, v in values.items()}
