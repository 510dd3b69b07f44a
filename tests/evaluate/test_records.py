import json

import numpy as np
import pytest

from skelcmd import __version__
from skelcmd.errors import UserError
from skelcmd.evaluate.records import Record, read_records, record_name, write_record

DATASET = {"path": "/data/ntu60_xsub", "source": "ntu60", "benchmark": "xsub", "split": "test"}


def make(**changes):
    fields = dict(protocol="linear", stream="joint", dataset=dict(DATASET), top1=79.81)
    return Record(**{**fields, **changes})


def test_round_trip_keeps_every_field(tmp_path):
    record = make(
        top5=95.25,
        checkpoint="/runs/ntu60/last.pt",
        settings={"lr": 0.1, "epochs": 80, "milestones": [50, 70]},
        extra={"best_top1": 80.5, "best_epoch": 63},
        seconds=12.5,
    )
    path = write_record(tmp_path / "run", record)
    assert path == tmp_path / "run" / "eval" / "linear_joint.json"
    (back,) = read_records([tmp_path / "run"])
    assert back == record
    assert back.path == path
    assert back.version == __version__ and back.created == record.created
    assert [p.name for p in path.parent.iterdir()] == ["linear_joint.json"]  # no temp file left


def test_file_names_say_random_init_fraction_and_k():
    assert record_name(make(stream="ensemble")) == "linear_ensemble.json"
    assert record_name(make(random_init=True)) == "linear_joint_random.json"
    semi = make(protocol="semi", random_init=True, extra={"label_fraction": 0.01})
    assert record_name(semi) == "semi_joint_random_frac0.01.json"
    assert record_name(make(protocol="knn", extra={"k": 20})) == "knn_joint_k20.json"
    paper = make(extra={"feature_norm": "none"})
    assert record_name(paper) == "linear_joint.json"  # the paper's recipe keeps its name
    standardized = make(random_init=True, extra={"feature_norm": "standardize"})
    assert record_name(standardized) == "linear_joint_random_standardize.json"


def test_numpy_values_and_paths_become_plain_json(tmp_path):
    record = make(
        top1=np.float32(50.0),
        settings={"ks": (1, 5), "out": tmp_path},
        extra={"per_seed": np.array([1.5, 2.5]), "std": np.float64(0.5)},
    )
    path = write_record(tmp_path, record)
    data = json.loads(path.read_text())
    assert data["top1"] == 50.0 and data["settings"] == {"ks": [1, 5], "out": str(tmp_path)}
    assert data["extra"] == {"per_seed": [1.5, 2.5], "std": 0.5}
    assert "path" not in data


def test_directories_are_searched_below_and_files_read_once(tmp_path):
    a = write_record(tmp_path / "runs" / "a", make(stream="joint"))
    b = write_record(tmp_path / "runs" / "b" / "deep", make(stream="bone", random_init=True))
    (tmp_path / "runs" / "a" / "history.json").write_text("[]")  # not a record: not read
    records = read_records([tmp_path / "runs", a])
    assert [r.path for r in records] == [a, b]
    (tmp_path / "empty").mkdir()
    assert read_records([tmp_path / "empty"]) == []


def test_malformed_record_is_an_error_naming_the_file(tmp_path):
    write_record(tmp_path, make())
    bad = tmp_path / "eval" / "knn_joint.json"
    bad.write_text('{"protocol": "knn", ')
    with pytest.raises(
        UserError, match=r"knn_joint\.json is not a readable JSON file of an evaluation record"
    ):
        read_records([tmp_path])
    bad.write_text(json.dumps({**make().to_dict(), "protocol": "magic"}))
    with pytest.raises(UserError, match=r"knn_joint.json is not a valid evaluation record.*magic"):
        read_records([tmp_path])
    bad.write_text(json.dumps({**make().to_dict(), "colour": "blue"}))
    with pytest.raises(UserError, match="unknown field"):
        read_records([tmp_path])
    bad.write_text("[1, 2]")
    with pytest.raises(UserError, match="JSON object"):
        read_records([bad])
    with pytest.raises(UserError, match="does not exist"):
        read_records([tmp_path / "nowhere"])


def test_mean_and_std_over_seeds():
    one = make(protocol="semi", extra={"per_seed": [70.0]})
    assert one.mean_std() == (79.81, None)
    seeds = [60.0, 62.0, 64.0, 66.0, 68.0]
    computed = make(protocol="semi", top1=64.0, extra={"per_seed": seeds})
    assert computed.mean_std() == pytest.approx((64.0, float(np.sqrt(8.0))))
    given = make(protocol="semi", extra={"per_seed": seeds, "mean": 64.0, "std": 3.16})
    assert given.mean_std() == (64.0, 3.16)
