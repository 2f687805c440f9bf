"""Fail unless every ``name==version`` line of a constraints file is what is installed.

Used by .ci/run after `pip install -e ".[dev]"` on top of the floor versions: the
install must leave them in place (a user on Colab keeps the JAX they have)."""

import sys
from importlib import metadata
from pathlib import Path

wrong = []
for line in Path(sys.argv[1]).read_text().splitlines():
    line = line.split("#")[0].strip()
    if not line:
        continue
    name, want = line.split("==")
    have = metadata.version(name)
    if have != want:
        wrong.append(f"{name}: {have} installed, {want} pinned")
if wrong:
    sys.exit("the install moved pinned versions: " + "; ".join(wrong))
print(f"{sys.argv[1]}: every pinned version in place")
