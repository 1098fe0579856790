import pytest

from mlpipe.demo import PROBLEMS, make_bad_batch
from model_code.data import DataError, load_csv
from model_code.dataset import write_split


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return write_split(tmp_path_factory.mktemp("data"))["batches"][0]


@pytest.mark.parametrize("problem,words", [
    ("wrong_column", "mean radius"),
    ("not_a_number", "n/a"),
    ("bad_label", "target"),
])
def test_each_bad_batch_is_rejected_by_the_data_contract(batch, tmp_path, problem, words):
    bad = make_bad_batch(batch, tmp_path / f"{problem}.csv", problem)
    with pytest.raises(DataError) as err:
        load_csv(bad)
    assert words in str(err.value)
    assert set(PROBLEMS) == {"wrong_column", "not_a_number", "bad_label"}


def test_unknown_problem_is_refused(batch, tmp_path):
    with pytest.raises(ValueError, match="choose one of"):
        make_bad_batch(batch, tmp_path / "x.csv", "typo")
