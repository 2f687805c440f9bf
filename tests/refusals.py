"""The check every hardening test makes of a refused command: exit status 2, one
``error:`` line naming what was wrong, no traceback, nothing written. Imported by
tests/test_hardening.py and tests/test_hardening_probe.py."""

from __future__ import annotations

from pathlib import Path

from jaxdeep.cli import main


def refused(capsys, argv, *fragments, place: Path | None = None) -> str:
    """Run the command; check status 2, one error line naming ``fragments``, no
    traceback, and nothing written in ``place``."""
    before = sorted(place.rglob("*")) if place is not None else None
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err + captured.out
    for fragment in fragments:
        assert fragment.lower() in err.lower(), (fragment, err)
    if place is not None:
        assert sorted(place.rglob("*")) == before, "something was written"
    return err
