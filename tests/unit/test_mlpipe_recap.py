"""notebook 99's "what you built": every resource's creating line is found in the code."""
from mlpipe import recap


def test_every_resource_names_the_line_that_creates_it():
    table = recap.recap()
    assert len(table) == len(recap.RESOURCES)
    for resource, row in table.iterrows():
        path, line_no = row["made by"].split(":")
        line = (recap.REPO / path).read_text().splitlines()[int(line_no) - 1].strip()
        assert line == row["the line"], resource
        assert row["purpose"] and row["cost on AWS"], resource


def test_a_call_that_moved_away_is_a_clear_error():
    import pytest

    with pytest.raises(LookupError, match="update mlpipe/recap.py"):
        recap.creating_line("buckets", "s3.create_nothing(")
