"""Argument types and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    """argparse type: an int ≥ 1, with a message that says so."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def name_list(text: str) -> list[str]:
    """argparse type: a comma-separated list of names."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected one or more comma-separated names")
    return items


def int_list(text: str) -> list[int]:
    """argparse type: comma-separated positive ints, e.g. ``1,5,30``."""
    return [positive_int(t) for t in name_list(text)]


def seed_list(text: str) -> list[int]:
    """argparse type: comma-separated non-negative ints (seeds), e.g. ``0,1,2``."""
    try:
        values = [int(t) for t in name_list(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"seeds must be ≥ 0, got {text!r}")
    return values
