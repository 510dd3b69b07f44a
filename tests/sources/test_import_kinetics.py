"""Kinetics-skeleton import: ST-GCN's reading against a plain loop, exclusions, every user
error, and the real validation clips when ../shared/data is there."""

from __future__ import annotations

import json
import multiprocessing.context
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from skelcmd.cli import main
from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.skeleton import OPENPOSE18
from skelcmd.sources.kinetics import import_kinetics
from tests.helpers.data_paths import SHARED_DATA
from tests.helpers.user_error import expect_user_error, snapshot_tree

REAL = SHARED_DATA / "kinetics_skeleton"
NAMES = ["abseiling", "air drumming", "answering questions"]


def plain_stgcn(path: Path, frames: int = 300) -> np.ndarray:
    """ST-GCN's Kinetics feeder, written out: the first 5 persons of each frame, x, y - 0.5,
    zeroed where the score is 0, persons sorted by summed score per frame, 2 kept (frame i at
    position i - 1)."""
    info = json.loads(path.read_text())
    data = np.zeros((3, frames, 18, 5))
    for frame in info["data"]:
        t = frame["frame_index"] - 1
        for m, person in enumerate(frame["skeleton"]):
            if m >= 5:
                break
            data[0, t, :, m] = person["pose"][0::2]
            data[1, t, :, m] = person["pose"][1::2]
            data[2, t, :, m] = person["score"]
    data[0:2] = data[0:2] - 0.5
    data[0][data[2] == 0] = 0
    data[1][data[2] == 0] = 0
    for t in range(frames):
        order = sorted(range(5), key=lambda m: -data[2, t, :, m].sum())
        data[:, t] = data[:, t][:, :, order]
    return data[..., :2]


def person(rng, score_scale=1.0, zero_joints=()):
    pose = rng.uniform(0.05, 0.95, 36).round(3)
    score = (rng.uniform(0.1, 1.0, 18) * score_scale).round(3)
    for v in zero_joints:
        pose[2 * v : 2 * v + 2] = 0
        score[v] = 0
    return {"pose": pose.tolist(), "score": score.tolist()}


def write_clips(folder: Path, labels: dict, seed: int = 0) -> dict:
    """Clips of 6 frames: persons in varied order and number (7 in frame 2, so the first 5
    count), an empty frame 4, trailing empty frames; clip `c_empty` has no person at all."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    entries = {}
    for k, (name, label) in enumerate(labels.items()):
        frames = []
        for i in range(1, 7):
            if name == "c_empty" or i in (4, 6) or (i == 5 and k % 2):
                people = []
            elif i == 2:
                people = [person(rng, s, (3,)) for s in (0.2, 0.9, 0.5, 0.1, 0.3, 2.0, 3.0)]
            else:
                people = [person(rng, rng.uniform(0.2, 1)) for _ in range(1 + (i + k) % 3)]
            frames.append({"frame_index": i, "skeleton": people})
        clip = {"data": frames, "label": NAMES[label], "label_index": label}
        (folder / f"{name}.json").write_text(json.dumps(clip))
        entries[name] = {"has_skeleton": name != "c_noskel", "label": NAMES[label],
                         "label_index": label}  # fmt: skip
    return entries


def write_release(root: Path, labels: dict, name="clips", label_file="val_label.json") -> tuple:
    entries = write_clips(root / name, labels)
    entries["not_downloaded"] = {"has_skeleton": True, "label": NAMES[2], "label_index": 2}
    (root / label_file).write_text(json.dumps(entries))
    return root / name, root / label_file


LABELS = {"c_a": 0, "c_b": 2, "c_c": 1, "c_empty": 0, "c_noskel": 1}


def test_clips_are_read_as_stgcn_reads_them(tmp_path):
    clips, labels = write_release(tmp_path, LABELS)
    summary = import_kinetics(clips, labels, tmp_path / "ds")
    ds = open_dataset(tmp_path / "ds")
    assert (ds.channels, ds.layout, ds.class_names) == ("xy+score", OPENPOSE18, tuple(NAMES))
    test = ds.split("test")
    assert test.names == ["c_a", "c_b", "c_c"] and list(test.labels) == [0, 2, 1]
    assert test.data.shape == (3, 3, 300, 18, 2)
    for i, name in enumerate(test.names):
        want = plain_stgcn(clips / f"{name}.json")
        np.testing.assert_allclose(test.data[i], want.astype(np.float32), rtol=0, atol=0)
        last = np.flatnonzero((want[2] != 0).any(axis=(1, 2)))[-1]
        assert test.lengths[i] == last + 1  # 5 or 3: trailing empty frames are padding
    assert test.lengths.tolist() == [5, 3, 5]
    assert summary.no_skeleton == {"test": ["c_noskel"]}
    assert summary.no_person == {"test": ["c_empty"]} and summary.unlisted == {"test": 1}
    text = summary.format()
    assert "test: 3 clips; left out 1 marked without a skeleton and 1 with no person" in text
    assert ds.extra["excluded"] == {"test": [1, 1]}
    assert (
        main(["show", str(tmp_path / "ds"), "--index", "1", "--out", str(tmp_path / "a.png")]) == 0
    )
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["info", str(tmp_path / "ds")]) == 0


def test_a_train_and_a_test_folder_and_class_name_files(tmp_path, capsys):
    train = write_release(tmp_path / "tr", {"t_a": 1, "t_b": 0}, label_file="train_label.json")
    test = write_release(tmp_path / "te", {"v_a": 2})
    names = tmp_path / "names.txt"
    names.write_text("\n".join(NAMES) + "\n")
    args = ["import", "kinetics-skeleton", *map(str, train), str(tmp_path / "ds")]
    assert main([*args, "--test", *map(str, test), "--classes", str(names), "--workers", "2"]) == 0
    assert "train: 2 clips" in capsys.readouterr().out
    ds = open_dataset(tmp_path / "ds")
    assert {n: s.names for n, s in ds.splits.items()} == {"train": ["t_a", "t_b"], "test": ["v_a"]}
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("a\nb\nc\n")
    with pytest.raises(UserError, match=r"give label 0 the name 'a', but .* calls it 'abseiling'"):
        import_kinetics(*train, tmp_path / "x", class_names=wrong)


def edit_clip(path: Path, change) -> None:
    clip = json.loads(path.read_text())
    change(clip)
    path.write_text(json.dumps(clip))


def test_user_errors_name_the_file(tmp_path):
    clips, labels = write_release(tmp_path, {"c_a": 0, "c_b": 1, "c_c": 2})
    out = tmp_path / "ds"

    def fails(match, **kw):
        with pytest.raises(UserError, match=match):
            import_kinetics(clips, labels, out, **kw)
        assert not out.exists()

    original = (clips / "c_b.json").read_text()
    edit_clip(clips / "c_b.json", lambda c: c["data"][1]["skeleton"][0]["pose"].pop())
    fails(r"c_b\.json: frame 2, person 1 has a pose of shape \(35,\)")
    edit_clip(clips / "c_b.json", lambda c: c["data"][1].update(frame_index=1))
    fails(r"c_b\.json: frame_index 1 appears twice")
    edit_clip(clips / "c_b.json", lambda c: c["data"][1].update(frame_index=301))
    fails(r"c_b\.json: entry 1 of 'data' has frame_index 301, not 1\.\.300")
    (clips / "c_b.json").write_text(original)
    edit_clip(clips / "c_b.json", lambda c: c.update(label_index=0))
    fails(r"c_b\.json: label_index 0, but the label file says 1")
    (clips / "c_b.json").write_text("{not json")
    fails(r"c_b\.json is not a readable JSON file")
    (clips / "c_b.json").write_text(original)
    (clips / "stray.json").write_text(original)
    fails(r"holds 1 clips the label file .*val_label\.json does not list, e\.g\. stray\.json")
    (clips / "stray.json").unlink()
    entries = json.loads(labels.read_text())
    del entries["not_downloaded"]
    entries["c_b"]["label_index"] = 5  # labels 1, 3 and 4 have no name
    labels.write_text(json.dumps(entries))
    fails(r"names no class for labels \[1, 3, 4\].*--classes FILE", split="test")
    expect_user_error(
        ["import", "kinetics-skeleton", clips, labels, out], names=[labels], tmp=tmp_path
    )


def test_a_class_name_file_may_name_classes_no_clip_has(tmp_path):
    """Issue 22 item 12: all 400 Kinetics names were refused when the labels present stopped
    below 399; fewer names than the labels need are still refused."""
    clips, labels = write_release(tmp_path / "raw", {"c_a": 0, "c_b": 1})
    names = tmp_path / "names.txt"
    names.write_text("\n".join([*NAMES, "archery", "arm wrestling"]) + "\n")
    import_kinetics(clips, labels, tmp_path / "ds", class_names=names)
    ds = open_dataset(tmp_path / "ds")
    assert ds.class_names == (*NAMES, "archery", "arm wrestling")
    assert list(ds.split("test").labels) == [0, 1]
    names.write_text("\n".join(NAMES[:2]) + "\n")
    with pytest.raises(UserError, match=r"gives 2 class names, but .* has 3 classes"):
        import_kinetics(clips, labels, tmp_path / "ds2", class_names=names)


def test_a_coordinate_beyond_float32_is_refused_without_a_raw_warning(tmp_path):
    """Issue 22 item 12: 1e39 printed numpy's 'overflow encountered in cast' first."""
    clips, labels = write_release(tmp_path, {"c_a": 0, "c_b": 1})

    def huge(clip):
        clip["data"][0]["skeleton"][0]["pose"][3] = 1e39

    edit_clip(clips / "c_a.json", huge)
    with pytest.raises(UserError, match=r"sample c_a holds .*too large for float32"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            import_kinetics(clips, labels, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()


def test_a_split_is_a_plain_name(tmp_path):
    """Issue 22 item 2: --split ../x wrote the split beside OUT_DIR."""
    clips, labels = write_release(tmp_path / "raw", {"c_a": 0, "c_b": 1})
    for split in ("../x", "/tmp/x", ".x", "meta.json"):
        with pytest.raises(UserError, match=r"--split: the split name .* is not a plain name"):
            import_kinetics(clips, labels, tmp_path / "out" / "ds", split=split)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]


@pytest.mark.skipif(not REAL.is_dir(), reason="needs ../shared/data/kinetics_skeleton")
def test_the_real_validation_clips(tmp_path):
    clips, labels = REAL / "kinetics_val", REAL / "kinetics_val_label.json"
    summary = import_kinetics(clips, labels, tmp_path / "ds")
    ds = open_dataset(tmp_path / "ds")
    names = (REAL / "label_name.txt").read_text().splitlines()
    assert ds.class_names == tuple(names) and len(names) == 400
    test = ds.split("test")
    files = sorted(clips.glob("*.json"))
    assert test.names == [f.stem for f in files] and summary.written == {"test": 7}
    assert summary.unlisted == {"test": 19906 - 7}
    for i, path in enumerate(files):
        want = plain_stgcn(path).astype(np.float32)
        np.testing.assert_array_equal(test.data[i], want)
        assert test.labels[i] == json.loads(path.read_text())["label_index"]
    assert test.lengths.max() <= 300 and (test.data[:, 2] > 0).any()


# Issue 22, item 6: --workers is capped at the CPUs this process may use (and says so), and
# SIGTERM while the pool forks its workers stops the import like Ctrl-C.
def test_workers_are_capped_at_the_cpu_count(tmp_path, monkeypatch, capsys):
    started, real_pool = [], multiprocessing.context.BaseContext.Pool

    def recording_pool(context, processes=None, *args, **kwargs):
        started.append(processes)
        return real_pool(context, min(processes, 2), *args, **kwargs)  # (never fork thousands)

    monkeypatch.setattr(multiprocessing.context.BaseContext, "Pool", recording_pool)
    clips, labels = write_release(tmp_path, {"c_a": 0, "c_b": 2, "c_c": 1})
    summary = import_kinetics(clips, labels, tmp_path / "ds", workers=99_999_999_999)
    cpus = len(os.sched_getaffinity(0))
    assert summary.written == {"test": 3} and started and max(started) <= cpus
    assert f"--workers 99999999999 is more than the {cpus} CPUs" in capsys.readouterr().err


def test_sigterm_while_the_pool_starts_stops_the_import(tmp_path):
    clips, labels = write_release(tmp_path, {"c_a": 0, "c_b": 2, "c_c": 1})
    code = (  # SIGTERM arrives in the middle of forking the first worker
        "import os, signal, sys\n"
        "from skelcmd.cli import main\n"
        "sent = []\n"
        "def term():\n"
        "    if not sent:\n"
        "        sent.append(1)\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "os.register_at_fork(before=term)\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    before = snapshot_tree(tmp_path)
    args = ["import", "kinetics-skeleton", clips, labels, tmp_path / "ds", "--workers", "2"]
    result = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 143 and "terminated" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr
    assert snapshot_tree(tmp_path) == before


# Issue 22, item 8: JSON nested 200,000 deep, as a clip or as the label file, is an error
# naming the file (it was a RecursionError).
def test_deeply_nested_json_names_the_file(tmp_path):
    clips, labels = write_release(tmp_path, {"c_a": 0, "c_b": 2, "c_c": 1})
    deep = "[" * 200_000 + "]" * 200_000
    (clips / "c_b.json").write_text(deep)
    with pytest.raises(UserError, match=r"c_b\.json .*nested too deeply"):
        import_kinetics(clips, labels, tmp_path / "ds")
    labels.write_text(deep)
    with pytest.raises(UserError, match=r"val_label\.json .*nested too deeply"):
        import_kinetics(clips, labels, tmp_path / "ds")
    assert not (tmp_path / "ds").exists()
