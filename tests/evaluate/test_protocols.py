"""The evaluation protocols' configs: every numeric option's range (item 6 of issue 13)."""

import pytest

from skelcmd.errors import UserError
from skelcmd.evaluate.protocols import load_eval_config


@pytest.mark.parametrize(
    ("protocol", "override", "match"),
    [
        ("linear", "gamma=0", "lr and gamma must be > 0"),
        ("linear", "seed=-1", "LinearConfig.seed must be at least 0"),
        ("linear", "workers=-2", "LinearConfig.workers must be at least 0"),
        ("finetune", "milestones=[-1]", r"milestones \[-1\] must be epochs >= 1"),
        ("finetune", "seeds=[-1]", "distinct ints >= 0"),
        ("knn", "seed=-1", "seed \\(-1\\) must be >= 0"),
    ],
)
def test_evaluation_options_out_of_range(protocol, override, match):
    with pytest.raises(UserError, match=match):
        load_eval_config(protocol, None, [override])
