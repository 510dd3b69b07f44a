"""What `pretrain --out` may start a new run in, what `--resume` says it continues, and what an
interrupted run says (QA: a user's config.yaml and history.json were silently replaced)."""

import os
import shutil

import pytest

import skelcmd.train as train
from skelcmd.cli import Terminated, main
from skelcmd.config import load_config
from skelcmd.errors import UserError
from skelcmd.locking import LOCK_FILE
from tests.helpers.tiny import TINY, set_options


def tiny_config(data, *extra):
    return load_config(None, [f"data.path={data}", *TINY, *extra])


def pretrain_args(data, out, *extra):
    return ["pretrain", "--config", "synthetic_cpu", "--out", str(out), "--set",
            f"data.path={data}", *set_options([*TINY, *extra])]  # fmt: skip


def test_a_folder_of_the_users_is_refused_and_kept(data, tmp_path, capsys):
    mine = tmp_path / "v4"
    mine.mkdir()
    (mine / "config.yaml").write_text("my: config\n")
    (mine / "history.json").write_text('{"mine": 1}')
    assert main(pretrain_args(data, mine, "optim.epochs=1")) == 2
    err = capsys.readouterr().err
    assert str(mine) in err and "config.yaml" in err and "history.json" in err
    assert "empty or new folder" in err and "--resume" in err and "Traceback" not in err
    assert (mine / "config.yaml").read_text() == "my: config\n"
    assert (mine / "history.json").read_text() == '{"mine": 1}'
    assert sorted(os.listdir(mine)) == ["config.yaml", "history.json"]  # (no lock, no tb/)


@pytest.mark.parametrize(
    "entry",
    [
        "notes.txt",  # anything a run does not write
        "tb/mine.txt",  # a tb/ folder with something else than TensorBoard event files
        "config.yaml",  # a partial config: the user's, not the one a run writes in full
    ],
)
def test_anything_but_a_runs_own_files_is_in_the_way(data, tmp_path, entry):
    folder = tmp_path / "out"
    (folder / entry).parent.mkdir(parents=True, exist_ok=True)
    (folder / entry).write_text("optim: {lr: 0.5}\n")
    with pytest.raises(UserError, match=rf"{entry.split('/')[0]}.*an empty or new folder"):
        train.pretrain(tiny_config(data, "optim.epochs=1"), folder, progress=False)
    assert (folder / entry).read_text() == "optim: {lr: 0.5}\n"


def test_a_symbolic_link_named_config_yaml_is_in_the_way(data, tmp_path, trained):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "config.yaml").symlink_to(trained / "config.yaml")  # a full config, linked
    with pytest.raises(UserError, match=r"holds config\.yaml, which"):
        train.pretrain(tiny_config(data, "optim.epochs=1"), folder, progress=False)
    assert (folder / "config.yaml").is_symlink()


def test_an_empty_existing_folder_takes_a_run(data, tmp_path):
    (tmp_path / "out").mkdir()
    last = train.pretrain(tiny_config(data, "optim.epochs=1"), tmp_path / "out", progress=False)
    assert last.is_file() and (tmp_path / "out" / "config.yaml").is_file()


def test_a_run_killed_before_its_first_checkpoint_starts_again(data, tmp_path, monkeypatch):
    run = tmp_path / "run"

    def killed(path, state):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "save_checkpoint", killed)
    with pytest.raises(KeyboardInterrupt) as info:
        train.pretrain(tiny_config(data, "optim.epochs=1"), run, progress=False)
    assert "No epoch finished" in "\n".join(info.value.__notes__)
    assert sorted(os.listdir(run)) == ["config.yaml", "tb"]
    # what a SIGKILL leaves besides: the lock file and a temporary of a file being written
    (run / LOCK_FILE).write_text("process 1 on elsewhere since ...\n")
    (run / ".last.pt.tmp-999999-0123abcd").write_bytes(b"half a checkpoint")
    monkeypatch.undo()
    last = train.pretrain(tiny_config(data, "optim.epochs=1", "optim.lr=0.05"), run, progress=False)
    assert train.resume_config(run).optim.lr == 0.05 and last.is_file()


def test_epoch_checkpoints_without_last_pt_are_a_run(data, run):
    (run / "last.pt").unlink()
    before = (run / "epoch_0002.pt").read_bytes()
    with pytest.raises(UserError, match=r"already holds a run \(epoch_0002.pt.*--resume"):
        train.pretrain(tiny_config(data), run, progress=False)
    assert (run / "epoch_0002.pt").read_bytes() == before


def test_resume_says_where_it_continues(data, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(pretrain_args(data, run, "optim.epochs=1")) == 0
    capsys.readouterr()
    assert main(["pretrain", "--out", str(run), "--resume", "--set", "optim.epochs=2"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {run} from last.pt: 1 of 2 epochs done, continuing with epoch 2" in out


@pytest.mark.parametrize("signal", [KeyboardInterrupt, Terminated])
def test_an_interrupted_run_says_how_to_resume(data, tmp_path, capsys, monkeypatch, signal):
    run, original, saves = tmp_path / "run", train.save_checkpoint, []

    def stopped_after_first_epoch(path, state):
        original(path, state)
        saves.append(path)
        if len(saves) == 2:  # last.pt and epoch_0001.pt
            raise signal

    monkeypatch.setattr(train, "save_checkpoint", stopped_after_first_epoch)
    assert main(pretrain_args(data, run)) == (130 if signal is KeyboardInterrupt else 143)
    err = capsys.readouterr().err
    assert "skelcmd: " in err and f"last finished epoch is saved in {run}/last.pt" in err
    assert f"continue it with: skelcmd pretrain --out {run} --resume" in err
    monkeypatch.undo()
    assert main(["pretrain", "--out", str(run), "--resume"]) == 0
    assert train.resume_config(run).optim.epochs == 2
    shutil.rmtree(run)
