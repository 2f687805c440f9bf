"""Every table of numbers in the README is the one ``benchmarks/readme_tables.py`` writes
from the records in ``benchmarks/results/``: a number typed by hand, or a record re-made
without the README following, fails here."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks import readme_tables  # noqa: E402

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(readme_tables.TABLES))
def test_the_readme_table_is_the_records(name):
    table = readme_tables.TABLES[name]()
    assert table in README, (f"README's {name} table differs from its record; paste the "
                             f"output of `python benchmarks/readme_tables.py {name}`:\n{table}")


def test_a_changed_record_would_be_caught(monkeypatch):
    real = readme_tables.load

    def nudged(name):
        record = real(name)
        record["results"]["runs"]["ResNet-56"]["test_accuracy"] += 0.01
        return record

    monkeypatch.setattr(readme_tables, "load", nudged)
    assert readme_tables.resnet56() not in README


def test_every_record_the_tables_read_names_its_commit_and_cpu():
    for name in ["study_default.json"]:
        runtime = readme_tables.load(name)["runtime"]
        assert runtime["source"]["commit"] and runtime["cpu"]["model"], name
    for name in ["gradflow_default.json", "gradflow_relu_normal.json", "skip_unet.json",
                 "skip_resnet56_vs_plain.json", "skip_residual_vs_plain.json",
                 "rbm_bas.json", "pretrain_digits_dbn.json", "pretrain_digits_sae.json"]:
        env = readme_tables.load(name)["environment"]
        assert env["commit"] and env["cpu"] and env["dirty"] is False, name
