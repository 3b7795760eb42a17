"""Syncing a project with its copy on a host: planning (pure), then real transfers over SFTP."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from jupyter_orbit.errors import InputError
from jupyter_orbit.remote.exclude import Rules
from jupyter_orbit.remote.sync import (
    Entry,
    Limits,
    Sent,
    Tree,
    plan_pull,
    plan_push,
    scan_local,
)

# -- planning (pure) ------------------------------------------------------------------------


def tree(**files: Entry) -> Tree:
    return Tree({k.replace("__", "/"): v for k, v in files.items()})


F = Entry  # Entry("file", size, mtime)


def test_push_sends_new_and_changed_and_checks_same_size_other_time():
    local = tree(a=F("file", 3, 100), b=F("file", 4, 100), c=F("file", 5, 100), d=F("file", 6, 100))
    remote = {"b": F("file", 9, 100), "c": F("file", 5, 100), "d": F("file", 6, 50)}
    plan = plan_push(local, remote, {})
    assert plan.send == (("a", "new"), ("b", "changed"))
    assert plan.unchanged == 1  # c: same size and time
    assert plan.check == ("d",)  # same size, other time: the hashes decide


def test_push_notices_a_change_within_the_second_it_was_sent():
    # SFTP keeps whole seconds; the record keeps the local file's exact time when it was sent.
    local = tree(a=Entry("file", 3, 100, mtime_ns=100_700_000_000), b=F("file", 3, 100))
    remote = {"a": F("file", 3, 100), "b": F("file", 3, 100)}
    sent = {"a": Sent(3, 100, "h", 100_200_000_000), "b": Sent(3, 100, "h", None)}
    plan = plan_push(local, remote, sent)
    assert plan.check == ("a",) and plan.unchanged == 1


def test_push_deletes_only_what_orbit_sent_and_nobody_changed():
    local = tree(keep=F("file", 1, 1))
    remote = {
        "keep": F("file", 1, 1),
        "gone": F("file", 2, 2),  # sent by Orbit, deleted here: deleted there
        "edited": F("file", 3, 9),  # sent, deleted here, but changed there since: kept
        "result.csv": F("file", 4, 4),  # written by the kernel there: kept
    }
    sent = {"keep": Sent(1, 1), "gone": Sent(2, 2), "edited": Sent(3, 3)}
    plan = plan_push(local, remote, sent)
    assert plan.delete == ("gone",)
    assert plan.kept == ("edited", "result.csv")


def test_push_recreates_changed_links():
    local = tree(l=Entry("link", target="a"), m=Entry("link", target="b"))
    remote = {"l": Entry("link", target="a"), "m": Entry("link", target="c")}
    plan = plan_push(local, remote, {})
    assert plan.send == (("m", "changed"),) and plan.unchanged == 1


def test_pull_fetches_what_changed_there_and_never_overwrites_local_changes():
    sent = {
        "same": Sent(1, 1),
        "theirs": Sent(2, 2),
        "both": Sent(3, 3),
        "mine": Sent(4, 4),
        "twin": Sent(80, 80),
    }
    local = tree(
        same=F("file", 1, 1),
        theirs=F("file", 2, 2),  # unchanged here since sent
        both=F("file", 30, 30),  # changed here since sent
        mine=F("file", 40, 40),  # changed here only
        clash=F("file", 5, 5),  # exists here, new there: differs
        twin=F("file", 8, 8),  # changed on both sides to the same size and time
    )
    remote = {
        "same": F("file", 1, 1),
        "theirs": F("file", 20, 20),
        "both": F("file", 31, 31),
        "mine": F("file", 4, 4),
        "clash": F("file", 6, 6),
        "new.csv": F("file", 7, 7),
        "twin": F("file", 8, 8),
        "alink": Entry("link", target="same"),
    }
    plan = plan_pull(local, remote, sent)
    assert plan.fetch == (("new.csv", "new"), ("theirs", "changed"))
    assert dict(plan.conflicts) == {
        "both": "changed here and on the remote",
        "clash": "exists here too and differs",
    }
    assert plan.unchanged == 2  # same, mine (as Orbit left it there)
    assert plan.check == ("twin",)  # only the contents can tell
    assert [s.path for s in plan.skipped] == ["alink"]


def test_scan_lists_exclusions_and_refuses_links_that_leave(tmp_path: Path):
    p = tmp_path / "proj"
    (p / "sub").mkdir(parents=True)
    (p / "nb.ipynb").write_text("{}")
    (p / "sub" / "x.py").write_text("x = 1\n")
    (p / ".env").write_text("TOKEN=1\n")
    (p / ".git").mkdir()
    (p / ".git" / "config").write_text("")
    (p / "inside").symlink_to("sub/x.py")
    (p / "subdir-link").symlink_to("sub")
    (p / "outside").symlink_to("/etc/hostname")
    (p / "up").symlink_to("..")
    (p / "deploy.txt").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n")
    os.mkfifo(p / "fifo")
    t = scan_local(p, Rules())
    assert t.entries["nb.ipynb"].kind == "file" and t.entries["nb.ipynb"].size == 2
    assert t.entries["inside"] == Entry("link", 0, t.entries["inside"].mtime, 0o777, "sub/x.py")
    assert t.entries["subdir-link"].target == "sub"
    assert sorted(t.entries) == ["inside", "nb.ipynb", "sub/x.py", "subdir-link"]
    excluded = {e.path: (e.reason, e.refused) for e in t.excluded}
    assert excluded == {
        ".env": ("secret", False),
        ".git/": ("version control", False),
        "deploy.txt": ("secret (a private key)", False),
        "fifo": ("not a regular file", False),
        "outside": ("link leading outside the project", True),
        "up": ("link leading outside the project", True),
    }


def test_a_folder_too_big_to_sync_is_refused_with_the_fix(tmp_path: Path):
    for i in range(12):
        (tmp_path / f"f{i}.txt").write_text("x" * 100)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "g.txt").write_text("y")
    assert len(scan_local(tmp_path, Rules(), Limits(files=100)).entries) == 13
    with pytest.raises(InputError) as e:
        scan_local(tmp_path, Rules(), Limits(files=5))
    assert "more than 5 files" in e.value.message and ".orbitignore" in e.value.hint
    with pytest.raises(InputError, match="more than 1000 B"):
        scan_local(tmp_path, Rules(), Limits(bytes=1000))


# -- over SFTP, with a real host -------------------------------------------------------------


def _push(lab, root: Path):
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.sync import ProjectSync

    async def go():
        async with lab.session() as s:
            return await ProjectSync(s, root).push()

    return run_sync(go())


def _pull(lab, root: Path):
    from jupyter_orbit.remote._lib import run_sync
    from jupyter_orbit.remote.sync import ProjectSync

    async def go():
        async with lab.session() as s:
            return await ProjectSync(s, root).pull()

    return run_sync(go())


def _project(tmp_path: Path) -> Path:
    p = tmp_path / "proj"
    (p / "data").mkdir(parents=True)
    (p / "nb.ipynb").write_text('{"cells": []}')
    (p / "data" / "a.csv").write_text("a\n1\n")
    (p / "data" / "b.csv").write_text("b\n2\n")
    (p / "data" / "huge.parquet").write_bytes(b"\0" * 1000)
    (p / ".orbitignore").write_text("*.parquet\n")
    (p / ".env").write_text("TOKEN=secret\n")
    (p / ".git").mkdir()
    (p / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (p / "data" / "latest").symlink_to("a.csv")
    (p / "passwd").symlink_to("/etc/passwd")
    return p


def _remote_files(root: str) -> set[str]:
    base = Path(root)
    return {str(f.relative_to(base)) for f in base.rglob("*") if f.is_file() or f.is_symlink()}


@pytest.mark.integration
def test_sync_sends_only_what_changed_and_lists_what_it_left_out(lab, tmp_path: Path):
    p = _project(tmp_path)
    first = _push(lab, p)
    assert sorted(first.sent) == [
        ".orbitignore",
        "data/a.csv",
        "data/b.csv",
        "data/latest",
        "nb.ipynb",
    ]
    assert {(e.path, e.reason) for e in first.excluded} == {
        (".env", "secret"),
        (".git/", "version control"),
        ("data/huge.parquet", ".orbitignore: *.parquet"),
        ("passwd", "link leading outside the project"),
    }
    there = Path(first.remote_root)
    assert _remote_files(first.remote_root) == set(first.sent)
    assert (there / "data" / "b.csv").read_text() == "b\n2\n"
    assert (there / "data" / "latest").readlink() == Path("a.csv")
    assert int((there / "nb.ipynb").stat().st_mtime) == int((p / "nb.ipynb").stat().st_mtime)

    again = _push(lab, p)
    assert again.sent == [] and again.unchanged == 5

    later = time.time() + 5
    os.utime(p / "data" / "a.csv", (later, later))  # touched, same content: not sent
    (p / "data" / "b.csv").write_text("b\n3\n")  # same size, new content: sent
    (p / "nb.ipynb").write_text('{"cells": [1]}')  # new size: sent
    third = _push(lab, p)
    assert sorted(third.sent) == ["data/b.csv", "nb.ipynb"]
    assert (there / "data" / "b.csv").read_text() == "b\n3\n"
    assert int((there / "data" / "a.csv").stat().st_mtime) == int(later)  # time brought along
    assert _push(lab, p).sent == []


@pytest.mark.integration
def test_deletions_are_mirrored_but_files_the_kernel_wrote_are_kept(lab, tmp_path: Path):
    p = _project(tmp_path)
    there = Path(_push(lab, p).remote_root)
    lab.machine.as_user(f"echo 1,2 > {there}/data/result.csv")
    (p / "data" / "b.csv").unlink()
    r = _push(lab, p)
    assert r.deleted == ["data/b.csv"] and not (there / "data" / "b.csv").exists()
    assert r.kept == ["data/result.csv"] and (there / "data" / "result.csv").exists()


@pytest.mark.integration
def test_pull_brings_back_results_and_never_overwrites_a_local_change(lab, tmp_path: Path):
    p = _project(tmp_path)
    there = Path(_push(lab, p).remote_root)
    lab.machine.as_user(
        f"echo 1,2 > {there}/data/result.csv; echo a-new > {there}/data/a.csv;"
        f"echo theirs > {there}/data/b.csv; echo TOKEN=x > {there}/.env"
    )
    (p / "data" / "b.csv").write_text("mine\n")  # changed here too: a conflict
    r = _pull(lab, p)
    assert sorted(r.fetched) == ["data/a.csv", "data/result.csv"]
    assert r.conflicts == [("data/b.csv", "changed here and on the remote")]
    assert (p / "data" / "result.csv").read_text() == "1,2\n"
    assert (p / "data" / "a.csv").read_text() == "a-new\n"
    assert (p / "data" / "b.csv").read_text() == "mine\n"
    assert (p / ".env").read_text() == "TOKEN=secret\n"  # excluded both ways
    assert not list(p.rglob(".orbit-pull-*"))
    again = _pull(lab, p)
    assert again.fetched == [] and len(again.conflicts) == 1
    # What was pulled now counts as in sync: a push sends nothing back.
    assert _push(lab, p).sent == ["data/b.csv"]  # only the local change goes


@pytest.mark.integration
def test_orbit_remote_sync_and_pull_on_the_command_line(lab, client, tmp_path: Path):
    p = _project(tmp_path)
    r = client.run("remote", "sync", "lab", str(p))
    assert r.returncode == 0, r.stderr
    assert "sent: nb.ipynb" in r.stdout
    assert "excluded: .env  (secret)" in r.stdout
    assert "refused: passwd  (link leading outside the project)" in r.stdout
    there = Path(r.stderr.split(" -> lab:")[-1].strip())
    # Both sides change nb.ipynb to contents of one size within the same second: only the
    # hashes tell them apart.
    lab.machine.as_user(f"echo 42 > {there}/out.txt; printf x1 > {there}/nb.ipynb")
    (p / "nb.ipynb").write_text("{}")
    os.utime(p / "nb.ipynb", ns=(0, (there / "nb.ipynb").stat().st_mtime_ns))
    r = client.run("remote", "pull", "lab", str(p))
    assert r.returncode == 1, r.stderr  # a conflict
    assert f"wrote: {p / 'out.txt'}" in r.stdout
    assert f"conflict, not overwritten: {p / 'nb.ipynb'}" in r.stdout
    assert (p / "out.txt").read_text() == "42\n" and (p / "nb.ipynb").read_text() == "{}"
