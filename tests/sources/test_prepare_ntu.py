"""`prepare_ntu`: parsing, strictness, splits, exclusions, output, on real and made-up files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from skelcmd.data.format import open_dataset
from skelcmd.errors import UserError
from skelcmd.sources import driver as prepare
from skelcmd.sources.ntu import is_train, missing_skeletons, parse_names, prepare_ntu
from skelcmd.sources.ntu_parse import _slow, parse_numbers, parse_skeleton
from tests.helpers.data_paths import SHARED_DATA

SAMPLES, METADATA = SHARED_DATA / "ntu_samples", SHARED_DATA / "ntu_metadata"
REAL = sorted(SAMPLES.glob("*.skeleton")) if SAMPLES.is_dir() else []
TRUNCATED = sorted((SAMPLES / "truncated").glob("*.skeleton")) if SAMPLES.is_dir() else []
needs_samples = pytest.mark.skipif(not REAL, reason="real NTU samples absent (../shared/data)")
needs_metadata = pytest.mark.skipif(not METADATA.is_dir(), reason="NTU metadata absent")
FRAMES = {  # header frame counts of the 13 real samples
    "S001C001P001R001A011": 82, "S001C002P003R002A013": 147, "S001C003P008R002A058": 70,
    "S002C001P003R001A003": 100, "S002C002P009R001A056": 72, "S003C001P015R001A034": 71,
    "S004C002P003R001A017": 124, "S005C003P017R001A040": 51, "S007C003P017R001A030": 110,
    "S010C003P007R002A021": 87, "S010C003P025R002A032": 72, "S013C001P007R001A031": 53,
    "S015C003P007R001A023": 69,
}  # fmt: skip
TWO_PEOPLE = {"S001C003P008R002A058", "S002C002P009R001A056"}


def skeleton_text(frames: list[list[tuple[str, np.ndarray]]], newline: str = "\n") -> str:
    """A .skeleton file: per frame a list of (bodyID, (25, 3) joints)."""
    lines = [str(len(frames))]
    for bodies in frames:
        lines.append(str(len(bodies)))
        for body_id, joints in bodies:
            lines += [f"{body_id} 0 1 1 1 1 0 0.01 -0.25 2", "25"]
            lines += [
                " ".join(f"{v:.7g}" for v in (*xyz, 300, 200, 900, 500, 0, 0, 1, 0, 2))
                for xyz in joints
            ]
    return newline.join(lines) + newline


def made_up(seed: int = 0, frames: int = 6) -> list[list[tuple[str, np.ndarray]]]:
    rng = np.random.default_rng(seed)
    offset = np.array([0.0, 0.0, 3.0])
    return [[("72057594037944738", rng.normal(size=(25, 3)) + offset)] for _ in range(frames)]


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


# --- parsing ---------------------------------------------------------------------------


@needs_samples
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_real_samples_parse(path):
    raw = parse_skeleton(path)
    assert raw.num_frames == FRAMES[path.stem]
    assert raw.num_bodies == (2 if path.stem in TWO_PEOPLE else 1)
    assert raw.xyz.shape == (3, len(raw.frame), 25) and np.isfinite(raw.xyz).all()
    slow = _slow(path, path.read_bytes())  # the line-by-line reader agrees exactly
    assert np.array_equal(slow.xyz, raw.xyz) and np.array_equal(slow.body, raw.body)
    assert np.array_equal(slow.frame, raw.frame)


@needs_samples
def test_truncated_real_files_are_rejected_with_file_and_line():
    messages = {}
    for path in TRUNCATED:
        with pytest.raises(UserError) as info:
            parse_skeleton(path)
        messages[path.stem] = str(info.value)
    message = messages["S005C002P013R002A056"]
    assert "S005C002P013R002A056.skeleton: line 2086: expected 12 numbers" in message
    assert "fewer frames than the header says (59 declared, data ends in frame 44)" in message
    assert "(161 declared, data ends in frame 101)" in messages["S012C001P008R002A030"]


def test_numbers_are_parsed_exactly_like_float():
    rng = np.random.default_rng(0)
    values = rng.normal(size=3000) * 10.0 ** rng.integers(-6, 6, 3000)
    tokens = [repr(float(v)) for v in values] + [f"{v:.7g}" for v in values]
    tokens += ["-0", "+3", ".5", "5.", "007.250", "-.25", "1e5", "-5.960464E-08", "1" * 19]
    text = " ".join(tokens).encode()
    buf = np.frombuffer(text, dtype=np.uint8)
    spaces = np.flatnonzero(buf == 32)
    parsed = parse_numbers(buf, np.r_[0, spaces + 1], np.r_[spaces, len(buf)])
    assert np.array_equal(parsed, [float(t) for t in tokens])
    for bad in ("1.2.3", "--1", "1-2", ".", "-", "1e", "e5"):
        b = np.frombuffer(f"1 {bad} 2".encode(), dtype=np.uint8)
        assert (
            parse_numbers(b, np.array([0, 2, 3 + len(bad)]), np.array([1, 2 + len(bad), len(b)]))
            is None
        )


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_made_up_file_parses_with_lf_and_crlf(tmp_path, newline):
    frames = made_up()
    frames[2] = []  # a frame without a body
    frames[3].append(("72057594037944734", np.full((25, 3), 0.5)))
    path = write(tmp_path, "a.skeleton", skeleton_text(frames, newline))
    raw = parse_skeleton(path)
    assert raw.num_frames == 6 and raw.num_bodies == 2 and raw.frame.tolist() == [0, 1, 3, 3, 4, 5]
    assert raw.body.tolist() == [0, 0, 0, 1, 0, 0]  # IDs differ only beyond float precision
    assert np.allclose(raw.xyz[:, 0], frames[0][0][1].T, atol=1e-6)


def edit(index: int, old: str | None, new: str):
    """Replace `old` (None: the whole line) by `new` in line `index` (0-based; -1 appends)."""

    def apply(lines: list[str]) -> None:
        if index == -1:
            lines.append(new)
        else:
            lines[index] = new if old is None else lines[index].replace(old, new, 1)

    return apply


NUMBERS = "0 0 1 0 2"  # the last five numbers of every made-up joint line
BAD_FILES = {  # edit of the made-up file -> expected message
    "joint count": (edit(3, None, "24"), "line 4: the body has 24 joints"),
    "values": (edit(10, " " + NUMBERS, " 0 0 1 0"),
               "line 11: expected 12 numbers for a joint (frame 1, body 1, joint 7), found 11"),
    "text": (edit(5, " 300 ", " abc "), "line 6: 'abc' is not a number"),
    "nan": (edit(5, " 300 ", " nan "), "line 6: NaN or infinite value 'nan'"),
    "inf": (edit(33, " 900 ", " inf "), "line 34: NaN or infinite value 'inf'"),
    "header": (edit(0, None, "9"),
               "fewer frames than the header says (9 declared, data ends in frame 6)"),
    "extra": (edit(-1, None, "1 2 3"), "unexpected data after the last of the 6 frames"),
    "body count": (edit(1, None, "x"), "line 2: 'x' is not a number"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_FILES)
def test_malformed_files_name_file_and_line(tmp_path, case):
    edit, expected = BAD_FILES[case]
    lines = skeleton_text(made_up()).splitlines()
    edit(lines)
    path = write(tmp_path, "S001C001P001R001A001.skeleton", "\n".join(lines) + "\n")
    with pytest.raises(UserError) as info:
        parse_skeleton(path)
    assert str(info.value).startswith(str(path)) and expected in str(info.value)


def test_unusual_whitespace_is_read_by_the_slow_path(tmp_path):
    text = skeleton_text(made_up()).replace(" ", "\t").replace("\n", "  \n")
    raw = parse_skeleton(write(tmp_path, "a.skeleton", text))
    assert raw.num_frames == 6 and raw.xyz.shape == (3, 6, 25)


# --- splits ----------------------------------------------------------------------------


@needs_metadata
@pytest.mark.parametrize(
    ("dataset", "benchmark", "train", "test"),
    [
        ("ntu60", "xsub", 40_091, 16_487),
        ("ntu60", "xview", 37_646, 18_932),
        ("ntu120", "xsub", 63_026, 50_919),  # the published NTU-120 figures
        ("ntu120", "xset", 54_468, 59_477),
    ],
)
def test_split_counts_on_the_full_metadata(dataset, benchmark, train, test):
    names = (METADATA / dataset / "skes_available_name.txt").read_text().split()
    parsed = parse_names(names)
    camera = np.loadtxt(METADATA / dataset / "camera.txt", dtype=int)
    assert np.array_equal(parsed.camera, camera)
    assert not set(names) & missing_skeletons(dataset)
    mask = is_train(parsed, dataset, benchmark)
    assert (int(mask.sum()), int((~mask).sum())) == (train, test)


def test_missing_lists_ship_with_the_package():
    assert len(missing_skeletons("ntu60")) == 302 and len(missing_skeletons("ntu120")) == 535
    assert missing_skeletons("ntu60") <= missing_skeletons("ntu120")


# --- end to end ------------------------------------------------------------------------


def copy_samples(folder: Path, extra: tuple[Path, ...] = ()) -> Path:
    folder.mkdir()
    for path in (*REAL, *extra):
        shutil.copyfile(path, folder / path.name)
    return folder


def arrays(out: Path) -> dict[str, np.ndarray]:
    found = {}
    for benchmark in sorted(p.name for p in out.iterdir() if p.is_dir()):
        for split in open_dataset(out / benchmark).splits.values():
            found[f"{benchmark}/{split.name}/data"] = np.asarray(split.data)
            found[f"{benchmark}/{split.name}/lengths"] = split.lengths
            found[f"{benchmark}/{split.name}/names"] = np.array(split.names)
    return found


@needs_samples
def test_prepare_real_samples_with_one_and_two_workers(tmp_path):
    raw = copy_samples(tmp_path / "raw")
    one = prepare_ntu(raw, tmp_path / "one", dataset="ntu60", progress=False)
    two = prepare_ntu(raw, tmp_path / "two", dataset="ntu60", workers=2, progress=False)
    first, second = arrays(tmp_path / "one"), arrays(tmp_path / "two")
    assert first.keys() == second.keys()
    assert all(np.array_equal(first[k], second[k]) for k in first)
    assert one.written("xsub", "train") + one.written("xsub", "test") == 13
    assert two.written("xview", "train") + two.written("xview", "test") == 13
    assert (tmp_path / "one" / "prepare_report.txt").is_file()

    data = open_dataset(tmp_path / "one" / "xsub")
    assert data.class_names[0] == "drink water" and data.num_classes == 60
    assert data.extra["aligned"] is True and data.extra["max_frames"] == 300
    assert data.extra["preprocess"] == "reference"  # the default; test_normalize_reference
    for split in data.splits.values():  # checks its every number
        assert sorted(split.ids) == ["replications", "setups", "subjects", "views"]
        for i, name in enumerate(split.names):
            sample = np.asarray(split.data[i])  # (3, 300, 25, 2)
            length = split.lengths[i]
            assert length == FRAMES[name] and split.labels[i] == int(name[17:]) - 1
            # the padding repeats the sequence (person 1 is in every frame of these files)
            assert np.array_equal(sample[:, length:], sample[:, np.arange(300 - length) % length])
            assert (sample[:, :, 1, 0] == 0).all()  # joint 2 of person 1 is the origin, always
            hip, spine, left, right = sample[:, 0, [0, 1, 4, 8], 0].T
            assert abs(right - left)[1:].max() < 1e-5 and (right - left)[0] > 0  # along +x
            assert np.linalg.norm((spine - hip)[:2]) < 0.3 * (spine - hip)[2]  # about +z
            has_second = (sample[:, :length, :, 1] != 0).any()
            assert has_second == (name in TWO_PEOPLE)


@needs_samples
def test_tracked_first_frame_pipeline_is_kept(tmp_path):
    raw = copy_samples(tmp_path / "raw")
    prepare_ntu(
        raw, tmp_path / "out", dataset="ntu60", benchmarks=["xview"], progress=False,
        preprocess="tracked-first-frame",
    )  # fmt: skip
    data = open_dataset(tmp_path / "out" / "xview")
    assert data.extra["preprocess"] == "tracked-first-frame" and data.extra["aligned"] is True
    for split in data.splits.values():
        for i, name in enumerate(split.names):
            sample = np.asarray(split.data[i])  # (3, 300, 25, 2)
            assert split.lengths[i] == FRAMES[name]
            assert (sample[:, split.lengths[i] :] == 0).all()
            hip, spine, left, right = sample[:, 0, [0, 1, 4, 8], 0].T
            assert np.allclose(spine, 0, atol=1e-6)  # centred on joint 2
            assert np.allclose((spine - hip)[:2], 0, atol=1e-5) and spine[2] > hip[2]
            assert abs((right - left)[1]) < 1e-5 and (right - left)[0] > 0
            assert abs((right - left)[0]) > 2 * abs((right - left)[2])  # shoulders along x


@needs_samples
def test_no_align_keeps_camera_coordinates(tmp_path):
    raw = copy_samples(tmp_path / "raw")
    prepare_ntu(
        raw, tmp_path / "out", dataset="ntu60", benchmarks=["xview"], align=False, progress=False
    )
    data = open_dataset(tmp_path / "out" / "xview")
    assert data.extra["aligned"] is False and sorted(os.listdir(tmp_path / "out")) == [
        "prepare_report.txt",
        "xview",
    ]
    split = data.splits["train"]
    parsed = parse_skeleton(raw / f"{split.names[0]}.skeleton")
    assert np.allclose(split.data[0][:, 0, :, 0], parsed.xyz[:, 0], atol=1e-6)


@needs_samples
@pytest.mark.parametrize("workers", [1, 2])
def test_bad_file_stops_the_run_and_leaves_nothing(tmp_path, monkeypatch, workers):
    monkeypatch.setattr(prepare, "IN_FLIGHT", 1)  # the pool's feeder waits: it must not hang
    raw = copy_samples(tmp_path / "raw", tuple(TRUNCATED))
    with pytest.raises(UserError) as info:
        prepare_ntu(raw, tmp_path / "out", dataset="ntu60", workers=workers, progress=False)
    assert "S005C002P013R002A056.skeleton: line 2086" in str(info.value)
    assert "--skip-bad" in str(info.value)
    assert not (tmp_path / "out").exists()


@needs_samples
def test_skip_bad_lists_every_exclusion(tmp_path):
    raw = copy_samples(tmp_path / "raw", tuple(TRUNCATED))
    shutil.copyfile(REAL[0], raw / "S001C002P005R002A008.skeleton")  # on the missing list
    shutil.copyfile(REAL[0], raw / "S018C001P001R001A061.skeleton")  # NTU-120 only
    shutil.copyfile(REAL[0], raw / "copy of S001.skeleton")  # name does not match
    write(raw, "S001C001P001R001A001.skeleton", skeleton_text([[], []]))  # nobody in it
    (raw / "readme.txt").write_text("hello")
    summary = prepare_ntu(raw, tmp_path / "out", dataset="ntu60", skip_bad=True, progress=False)
    reasons = {e.name: e.reason for e in summary.excluded}
    assert reasons == {
        "S005C002P013R002A056.skeleton": "bad-file",
        "S012C001P008R002A030.skeleton": "bad-file",
        "S001C002P005R002A008.skeleton": "missing",
        "S018C001P001R001A061.skeleton": "ntu120-only",
        "copy of S001.skeleton": "bad-name",
        "S001C001P001R001A001.skeleton": "no-body",
        "readme.txt": "other-file",
    }
    text, report = summary.format(), (tmp_path / "out" / "prepare_report.txt").read_text()
    for name in ("S005C002P013R002A056.skeleton", "copy of S001.skeleton", "line 2086"):
        assert name in text and name in report
    assert "S018C001P001R001A061.skeleton\tntu120-only" in report
    assert summary.written("xsub", "train") + summary.written("xsub", "test") == 13


def test_user_mistakes_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="is not a folder"):
        prepare_ntu(tmp_path / "nope", tmp_path / "out", dataset="ntu60", progress=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match=r"holds no \.skeleton files"):
        prepare_ntu(tmp_path / "empty", tmp_path / "out", dataset="ntu60", progress=False)
    with pytest.raises(UserError, match="choose ntu60 or ntu120"):
        prepare_ntu(tmp_path / "empty", tmp_path / "out", dataset="ntu90", progress=False)
    with pytest.raises(UserError, match="choose from xsub, xset"):
        prepare_ntu(tmp_path, tmp_path / "out", dataset="ntu120", benchmarks=["xview"])
    raw = tmp_path / "raw"
    write(raw, "S001C001P001R001A001.skeleton", skeleton_text(made_up()))
    write(raw, "S001C002P002R001A001.skeleton", skeleton_text(made_up(1)))
    prepare_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False)
    with pytest.raises(UserError, match="already exists"):
        prepare_ntu(raw, tmp_path / "out", dataset="ntu60", progress=False)
    prepare_ntu(raw, tmp_path / "out", dataset="ntu60", overwrite=True, progress=False)


def test_ntu120_keeps_the_ntu120_classes(tmp_path):
    raw = tmp_path / "raw"
    write(raw, "S018C001P045R001A061.skeleton", skeleton_text(made_up()))
    write(raw, "S019C001P003R001A120.skeleton", skeleton_text(made_up(1)))
    summary = prepare_ntu(raw, tmp_path / "out", dataset="ntu120", progress=False)
    assert summary.written("xsub", "train") == 1 and summary.written("xsub", "test") == 1
    assert summary.written("xset", "train") == 1 and summary.written("xset", "test") == 1
    data = open_dataset(tmp_path / "out" / "xset")
    assert data.num_classes == 120 and data.splits["test"].labels.tolist() == [119]


@needs_samples
def test_command_line_stops_on_a_bad_file_and_skips_it_on_request(tmp_path, capsys):
    import shutil

    from skelcmd.cli import main

    raw = tmp_path / "raw"
    raw.mkdir()
    for path in [*SAMPLES.glob("*.skeleton"), *SAMPLES.glob("truncated/*")]:
        shutil.copy(path, raw / path.name)
    assert main(["prepare", "ntu60", str(raw), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "S005C002P013R002A056.skeleton: line 2086" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    argv = ["prepare", "ntu60", str(raw), str(tmp_path / "out"), "--skip-bad", "--workers", "2"]
    assert main([*argv, "--benchmark", "xview"]) == 0
    out = capsys.readouterr().out
    assert "2 bad files, skipped (--skip-bad)" in out
    assert (tmp_path / "out" / "xview" / "meta.json").is_file()
    assert not (tmp_path / "out" / "xsub").exists()
    assert "S012C001P008R002A030" in (tmp_path / "out" / "prepare_report.txt").read_text()
    picture = tmp_path / "a.png"
    assert (
        main(["show", str(tmp_path / "out" / "xview"), "--split", "train", "--out", str(picture)])
        == 0
    )
    assert picture.stat().st_size > 1000


def test_a_report_of_the_users_is_refused_before_any_work(tmp_path, monkeypatch, capsys):
    """QA: `prepare` replaced a user's OUT/prepare_report.txt without --overwrite."""
    from skelcmd.cli import main

    raw, out = tmp_path / "raw", tmp_path / "out"
    write(raw, "S001C001P001R001A001.skeleton", skeleton_text(made_up()))
    write(raw, "S001C002P002R001A001.skeleton", skeleton_text(made_up(1)))
    write(out, "prepare_report.txt", "MY NOTES\n")

    def no_work(*args):
        raise AssertionError("files were parsed before the report was checked")

    with monkeypatch.context() as patch:
        patch.setattr(prepare, "_outcomes", no_work)
        with pytest.raises(UserError, match=r"prepare_report.txt already exists.*--overwrite"):
            prepare_ntu(raw, out, dataset="ntu60", progress=False)
        assert main(["prepare", "ntu60", str(raw), str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{out / 'prepare_report.txt'}" in err and "another OUT_DIR" in err
    assert sorted(os.listdir(out)) == ["prepare_report.txt"]
    assert (out / "prepare_report.txt").read_text() == "MY NOTES\n"
    prepare_ntu(raw, out, dataset="ntu60", overwrite=True, progress=False)  # named: replaced
    assert (out / "prepare_report.txt").read_text().startswith("Prepared ntu60: 2 input files")
    assert sorted(os.listdir(out)) == ["prepare_report.txt", "xsub", "xview"]  # no temporaries
