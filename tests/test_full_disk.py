"""Every file lps writes is whole or not written: ``.eml`` messages on a full mail folder, the
``--output`` files of the commands, and standard output on a full device or a closed pipe.

The full disks are real: a 64 KiB tmpfs (mounting needs root; skipped where it is refused),
``/dev/full``, and a file size limit that cuts a write short."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from conftest import START, Cli, enrol, make_cohort
from procs import REPO, lps_command, lps_env
from sqlalchemy import select
from test_certificate import certify

from notifications.delivery import EmlChannel
from notifications.files import write_file
from workflow.clock import FixedClock
from workflow.db import Database
from workflow.engine import Workflow
from workflow.migrate import upgrade
from workflow.records import OUTBOX

NO_SPACE = os.strerror(errno.ENOSPC)


def _fill(folder: Path, leave: int = 0) -> Path:
    """Take every free byte of the file system ``folder`` is on but ``leave``."""
    filler = folder / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            try:
                os.write(descriptor, b"\0" * 4096)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        os.ftruncate(descriptor, os.fstat(descriptor).st_size - leave)
    finally:
        os.close(descriptor)
    return filler


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, mounted for the test and unmounted after it."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 64 KiB tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


# -- the helper -----------------------------------------------------------------------------


def test_a_full_device_refuses_the_write_and_stays_a_device() -> None:
    with pytest.raises(OSError) as caught:
        write_file(Path("/dev/full"), b"x" * 10_000)
    assert caught.value.errno == errno.ENOSPC
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="no writable /dev/shm here")
def test_a_file_in_shared_memory_is_written_like_any_other() -> None:
    folder = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        write_file(folder / "reminder.eml", b"Subject: x\r\n\r\nbody\r\n")
        assert (folder / "reminder.eml").read_bytes() == b"Subject: x\r\n\r\nbody\r\n"
    finally:
        shutil.rmtree(folder)


def test_a_file_that_does_not_fit_leaves_the_old_one_and_no_temporary(small_disk: Path) -> None:
    target = small_disk / "report.html"
    target.write_bytes(b"<p>the good report</p>" * 100)
    target.chmod(0o640)
    _fill(small_disk)
    with pytest.raises(OSError) as caught:
        write_file(target, b"<p>a longer report</p>" * 2_000)
    assert caught.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"<p>the good report</p>" * 100
    assert listing(small_disk) == ["filler", "report.html"]
    (small_disk / "filler").unlink()
    write_file(target, b"<p>a longer report</p>" * 2_000)
    assert target.read_bytes() == b"<p>a longer report</p>" * 2_000
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert listing(small_disk) == ["report.html"]


def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.ics"
    real.write_bytes(b"old")
    link = tmp_path / "link.ics"
    link.symlink_to(real)
    write_file(link, b"new")
    assert link.is_symlink() and real.read_bytes() == b"new"


# -- .eml files -----------------------------------------------------------------------------

SHORT_WRITE = textwrap.dedent(
    """
    import resource, signal, sys
    from pathlib import Path
    from notifications.delivery import DeliveryError, EmlChannel
    from notifications.wire import Composed

    message = Composed(
        key="42:welcome:participant:0", rule="welcome", message_id="<m@lps.invalid>",
        sender="kursus@lps.invalid", recipients=("soren@example.dk",), data=b"X" * 9_500,
    )
    # Past the limit the kernel writes what fits and returns the short count; the next write
    # fails with EFBIG (SIGXFSZ is ignored so that it is an error, not a kill).
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    try:
        EmlChannel(Path(sys.argv[1])).send(message)
    except DeliveryError as exc:
        print(f"refused: {exc} (transient={exc.transient})")
    else:
        print("sent")
    """
)


def test_a_write_cut_short_is_not_a_sent_message(tmp_path: Path) -> None:
    folder = tmp_path / "mail"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", SHORT_WRITE, str(folder)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [name] = [line for line in done.stdout.splitlines() if line]
    digest = hashlib.sha256(b"42:welcome:participant:0").hexdigest()[:16]
    path = folder / f"welcome-{digest}.eml"
    assert name == (f"refused: cannot write {path}: {os.strerror(errno.EFBIG)} (transient=True)")
    assert listing(folder) == []


def _outbox(wf: Workflow) -> list[tuple[str, str, str | None]]:
    with wf.db.reading() as conn:
        return [
            (r.recipient_role, r.status, r.last_error)
            for r in conn.execute(
                select(OUTBOX.c.recipient_role, OUTBOX.c.status, OUTBOX.c.last_error).order_by(
                    OUTBOX.c.id
                )
            )
        ]


def test_a_sweep_on_a_full_mail_folder_sends_nothing_cut_off_and_retries(
    wf: Workflow, clock: FixedClock, small_disk: Path
) -> None:
    make_cohort(wf)
    enrol(wf)
    mail = EmlChannel(small_disk / "outbox")
    (small_disk / "outbox").mkdir()
    # Room for the start of a message, not for all of it: the write comes back short.
    filler = _fill(small_disk, leave=4096)

    report = wf.remind(channel=mail)

    assert (report.delivered, report.retrying) == (0, 2)
    rows = _outbox(wf)
    assert [(role, status) for role, status, _ in rows] == [
        ("participant", "pending"),
        ("manager", "pending"),
    ]
    assert all(error and error.endswith(f": {NO_SPACE}") for _, _, error in rows)
    assert listing(small_disk / "outbox") == []

    filler.unlink()
    clock.set(START + timedelta(minutes=2))
    report = wf.remind(channel=mail)

    assert report.delivered == 2
    assert [status for _, status, _ in _outbox(wf)] == ["sent", "sent"]
    files = sorted((small_disk / "outbox").iterdir())
    assert [f.name.split("-")[0] for f in files] == ["welcome", "welcome"]
    for path in files:
        parsed = message_from_bytes(path.read_bytes())
        assert parsed["Subject"] and parsed.is_multipart()
        assert [part.get_filename() for part in parsed.walk() if part.get_filename()] == [
            "leder-paa-spring.ics"
        ]


# -- --output files --------------------------------------------------------------------------


def test_output_to_a_full_device_is_one_line_and_the_device_stays(wf: Workflow, lps: Cli) -> None:
    make_cohort(wf, "F27")
    for command in (
        ("report", "F27", "--output", "/dev/full"),
        ("calendar", "F27", "--output", "/dev/full"),
    ):
        result = lps(*command)
        assert (result.exit_code, result.output) == (
            1,
            f"Error: cannot write /dev/full: {NO_SPACE}\n",
        ), command
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_output_into_a_missing_folder_or_with_no_name_is_one_line(
    wf: Workflow, lps: Cli, tmp_path: Path
) -> None:
    make_cohort(wf, "F27")
    target = tmp_path / "nowhere" / "report.html"
    result = lps("report", "F27", "--output", str(target))
    assert (result.exit_code, result.output) == (
        1,
        f"Error: cannot write {target}: the folder {target.parent} does not exist\n",
    )
    assert not target.parent.exists()

    for command in (("report", "F27"), ("calendar", "F27")):
        result = lps(*command, "--output", "")
        assert result.exit_code == 2, result.output
        assert result.output.splitlines()[-1] == (
            "Error: Invalid value for '--output': the file name is empty; "
            "give one, e.g. --output FILE"
        )
        assert "Traceback" not in result.output


def test_a_report_on_a_full_disk_keeps_the_good_file(
    wf: Workflow, lps: Cli, small_disk: Path
) -> None:
    make_cohort(wf, "F27")
    enrol(wf, cohort="F27")
    target = small_disk / "existing.html"
    assert lps("report", "F27", "--output", str(target)).exit_code == 0
    good = target.read_bytes()
    # A second participant makes the new report longer than the room the old one takes.
    enrol(wf, cohort="F27", email="birthe@example.dk", name="Birthe Ågård")
    _fill(small_disk)

    result = lps("report", "F27", "--output", str(target))

    assert (result.exit_code, result.output) == (
        1,
        f"Error: cannot write {target}: {NO_SPACE}; the file there was left as it was\n",
    )
    assert target.read_bytes() == good
    assert listing(small_disk) == ["existing.html", "filler"]


def test_a_certificate_on_a_full_disk_leaves_no_empty_file(
    wf: Workflow, clock: FixedClock, lps: Cli, small_disk: Path
) -> None:
    make_cohort(wf, "F27")
    pid = enrol(wf, cohort="F27", email="nguyen@example.dk")
    certify(wf, clock, pid)
    _fill(small_disk)
    target = small_disk / "bevis.pdf"

    result = lps("certificate", str(pid), "--output", str(target))

    assert (result.exit_code, result.output) == (
        1,
        f"Error: cannot write {target}: {NO_SPACE}\n",
    )
    assert listing(small_disk) == ["filler"]


def test_output_to_dev_stdout_goes_to_standard_output(cohort_db: str, tmp_path: Path) -> None:
    captured = tmp_path / "captured.ics"
    with captured.open("wb") as stdout:
        done = subprocess.run(
            lps_command("calendar", "F27", "--output", "/dev/stdout"),
            env=lps_env(cohort_db, START.isoformat()),
            cwd=tmp_path,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert (done.returncode, done.stderr) == (0, "")
    text = captured.read_bytes().decode("utf-8")
    assert text.startswith("BEGIN:VCALENDAR")
    assert text.endswith("END:VCALENDAR\r\nWrote 5 events to /dev/stdout\n")


# -- standard output -------------------------------------------------------------------------


@pytest.fixture
def cohort_db(sqlite_url: str) -> str:
    database = Database(sqlite_url)
    upgrade(database)
    make_cohort(Workflow(database, clock=FixedClock(START), actor="tester"), "F27")
    database.dispose()
    return sqlite_url


@pytest.mark.parametrize("command", [("report", "F27"), ("diagram",), ("cohort", "list")])
def test_a_full_standard_output_is_one_line(
    cohort_db: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            lps_command(*command),
            env=lps_env(cohort_db, START.isoformat()),
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert (done.returncode, done.stderr) == (
        1,
        f"Error: cannot write to standard output: {NO_SPACE}\n",
    )


def test_a_closed_pipe_on_standard_output_ends_quietly(cohort_db: str, tmp_path: Path) -> None:
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            lps_command("report", "F27"),
            env=lps_env(cohort_db, START.isoformat()),
            cwd=tmp_path,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (1, "")
