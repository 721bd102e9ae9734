"""Result files are written atomically (issue 18): a SIGKILL mid-write leaves the previous version.

A real writer process is killed with SIGKILL while it writes; the file on disk must then parse as
the complete previous version. The control case (the same writer writing straight to the file)
shows that the check does see a torn file. Last, ``dse run`` and ``dse report`` replace every
table and report file by a rename (a new inode), which is what makes them atomic.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from dse.atomic_write import atomic_path, write_text_atomic

#: Writes version 1, 2, ... of a CSV table to PATH; each version is ROWS rows of its number.
#: ``atomic``: through atomic_path; ``direct``: open(PATH, "w"). Prints "writing V" once half of
#: version V is on disk, then waits for the kill (deterministic: the kill lands mid-write).
HALF_WRITER = r"""
import sys, time
from dse.atomic_write import atomic_path
path, mode, rows, upto = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
for version in range(1, upto + 1):
    body = "".join(f"{version},{i}\n" for i in range(rows))
    half = len(body) // 2
    def write(target):
        with open(target, "w") as fh:
            fh.write("version,row\n" + body[:half])
            fh.flush()
            if version == upto:
                print(f"writing {version}", flush=True)
                time.sleep(60)
            fh.write(body[half:])
    if mode == "atomic":
        with atomic_path(path) as tmp:
            write(tmp)
    else:
        write(path)
"""

#: Writes Parquet versions back to back through atomic_path, as write_tables does, until killed.
PARQUET_WRITER = r"""
import sys
import numpy as np, pandas as pd
from dse.atomic_write import atomic_path
path, rows = sys.argv[1], int(sys.argv[2])
version = 0
while True:
    version += 1
    frame = pd.DataFrame({"version": np.full(rows, version), "row": np.arange(rows)})
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    print(version, flush=True)
"""

ROWS = 50_000


def killed_mid_write(tmp_path, mode: str):
    path = tmp_path / "table.csv"
    proc = subprocess.Popen([sys.executable, "-c", HALF_WRITER, str(path), mode, str(ROWS), "3"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing 3"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    return path


def test_sigkill_mid_write_leaves_the_previous_version(tmp_path):
    path = killed_mid_write(tmp_path, "atomic")
    table = pd.read_csv(path)
    assert len(table) == ROWS and set(table["version"]) == {2}
    temps = [p for p in tmp_path.iterdir() if p != path]
    assert len(temps) == 1 and temps[0].name.startswith(".table.tmp-")  # the torn new version
    # a later write completes and removes nothing it should not
    write_text_atomic(path, "version,row\n4,0\n")
    assert pd.read_csv(path)["version"].tolist() == [4]


def test_control_a_direct_write_is_torn(tmp_path):
    """Without the helper the same kill leaves half a table: the check above can fail."""
    path = killed_mid_write(tmp_path, "direct")
    table = pd.read_csv(path)
    assert set(table["version"]) == {3} and 0 < len(table) < ROWS


def test_sigkill_at_random_moments_during_parquet_writes(tmp_path):
    path = tmp_path / "trials.parquet"
    rng = random.Random(18)
    for _ in range(3):
        proc = subprocess.Popen([sys.executable, "-c", PARQUET_WRITER, str(path), "200000"],
                                stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline().strip()  # at least one version is on disk
            time.sleep(rng.uniform(0.0, 0.5))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        table = pd.read_parquet(path)
        assert len(table) == 200_000 and table["version"].nunique() == 1
        assert table["row"].tolist() == list(range(200_000))


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("writer failed")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["summary.json"]


def test_new_files_get_the_usual_permissions(tmp_path):
    write_text_atomic(tmp_path / "a.txt", "x")
    with open(tmp_path / "b.txt", "w") as fh:
        fh.write("x")
    assert (tmp_path / "a.txt").stat().st_mode == (tmp_path / "b.txt").stat().st_mode


def test_matplotlib_picks_the_format_from_the_temporary_name(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    for ext, magic in ((".png", b"\x89PNG"), (".svg", b"<?xml")):
        with atomic_path(tmp_path / f"fig{ext}") as tmp:
            fig.savefig(tmp)
        assert (tmp_path / f"fig{ext}").read_bytes().startswith(magic)
    plt.close(fig)


RESULT_FILES = ("trials.parquet", "trials.csv", "pareto.csv", "summary.json", "study.toml",
                "report.html", "report.md")


def test_dse_run_and_report_replace_every_result_file(small_study, tmp_path, cli):
    """Each file is replaced by a rename (new inode), never rewritten in place: a hard link to the
    old version keeps the old content, whole."""
    study = small_study(trials=16, population=8)
    results = tmp_path / "results"
    common = ("--results", str(results), "--executor", "local", "--no-progress")
    assert cli("run", str(study), *common).returncode == 0
    folder = results / "small"
    figures = sorted(p.relative_to(folder) for p in folder.rglob("*") if p.suffix in (".png", ".svg"))
    assert figures
    names = [*RESULT_FILES, *map(str, figures)]
    old = {}
    for name in names:
        keep = tmp_path / "old" / name
        keep.parent.mkdir(parents=True, exist_ok=True)
        os.link(folder / name, keep)
        old[name] = (keep.stat().st_ino, keep.read_bytes())
    out = cli("run", str(study), *common, "--trials", "24")
    assert out.returncode == 0, out.stderr
    for name in names:
        assert (folder / name).stat().st_ino != old[name][0], f"{name} was rewritten in place"
        assert (tmp_path / "old" / name).read_bytes() == old[name][1]
    assert len(pd.read_parquet(folder / "trials.parquet")) == 24
    assert len(pd.read_csv(io.StringIO((tmp_path / "old" / "trials.csv").read_text()))) == 16
    leftovers = [p.name for p in folder.rglob(".*tmp-*")]
    assert not leftovers
