"""Stress the two ways a study used to lose or damage data, N times each (default 20).

Round i:
1. A driver runs a study (journal file) in a subprocess; once it has finished trials, a second
   `dse run --fresh` on the same study is started. It must refuse while the driver lives.
2. The first driver is killed (SIGKILL) at a random moment; a resume must keep every trial it had
   finished, each with all its parameters and values.
3. A study whose storage names an existing text file (journal or SQLite URL) must refuse and leave
   the file byte for byte as it was.

Prints one line per round and ends with ``lost_or_corrupted: N`` (0 is the only good result).

    python scripts/stress_integrity.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
STUDY = """name = "stress"
node_nm = 16
[[workloads]]
name = "yolov3@416x416"
batch = 1
[space]
cores = [1, 64]
rows = {{values = [8, 16, 32, 64]}}
cols = {{values = [8, 16, 32, 64]}}
clock_ghz = [0.4, 1.5]
sram_mb = [1, 64]
dram_channels = [1, 8]
[budgets]
area_mm2 = 100
power_w = 10
[[objectives]]
metric = "throughput"
workload = "yolov3@416x416"
[[objectives]]
metric = "area"
[search]
trials = 100000
population = 32
seed = {seed}
[execution]
executor = "local"
{storage}"""


def dse(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dse.cli.main", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def complete_trials(journal: Path) -> dict[int, tuple]:
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    study = optuna.load_study(study_name="stress", storage=storage)
    return {t.number: (tuple(sorted(t.params.items())), tuple(t.values or ()))
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}


def race_round(folder: Path, rng: random.Random) -> int:
    """One --fresh race; returns the number of lost or corrupted trials (0 when all is well)."""
    study = folder / "stress.toml"
    study.write_text(STUDY.format(seed=rng.randrange(1000), storage=""))
    journal = folder / "results" / "stress" / "study.journal"
    results = str(folder / "results")
    driver = subprocess.Popen([sys.executable, "-m", "dse.cli.main", "run", str(study), "--no-report",
                               "--no-progress", "--results", results],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    bad = 0
    try:
        deadline = time.monotonic() + 120
        while not (journal.exists() and b'"state":1' in journal.read_bytes()):
            if driver.poll() is not None or time.monotonic() > deadline:
                print(f"  driver did not start: {driver.stderr.read() if driver.stderr else ''}")
                return 1
            time.sleep(0.1)
        time.sleep(rng.uniform(0.0, 2.0))
        fresh = dse("run", str(study), "--trials", "32", "--fresh", "--no-report", "--no-progress",
                    "--results", results)
        if fresh.returncode != 2 or "in use" not in fresh.stderr:
            print(f"  --fresh was not refused (exit {fresh.returncode}): {fresh.stderr.strip()}")
            bad += 1
        time.sleep(rng.uniform(0.0, 2.0))
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    before = complete_trials(journal)
    resume = dse("run", str(study), "--trials", str(len(before) + 32), "--no-report", "--no-progress",
                 "--results", results)
    if resume.returncode != 0:
        print(f"  resume failed: {resume.stderr.strip()}")
        return bad + len(before)
    after = complete_trials(journal)
    lost = [n for n, rec in before.items() if after.get(n) != rec]
    names = {name for params, _ in after.values() for name, _ in params}
    broken = [n for n, (params, values) in after.items() if {p for p, _ in params} != names or not values]
    return bad + len(lost) + len(broken)


def victim_round(folder: Path, rng: random.Random) -> int:
    victim = folder / "victim.txt"
    content = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 4000))) + b"\nno newline"
    victim.write_bytes(content)
    url = rng.choice([f"journal:{victim}", f"sqlite:///{victim}"])
    study = folder / "victim.toml"
    study.write_text(STUDY.format(seed=1, storage=f'[storage]\nurl = "{url}"\n'))
    res = dse("run", str(study), "--trials", "8", "--no-report", "--no-progress", "--results", str(folder / "r"))
    ok = res.returncode == 2 and victim.read_bytes() == content and "--fresh" not in res.stderr
    if not ok:
        print(f"  {url}: exit {res.returncode}, file {'intact' if victim.read_bytes() == content else 'CHANGED'}")
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    total = 0
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            race = race_round(Path(tmp), rng)
            victim = victim_round(Path(tmp), rng)
            total += race + victim
            print(f"round {i + 1}/{args.rounds}: race lost_or_corrupted={race}, foreign file damaged={victim}, "
                  f"{time.perf_counter() - start:.1f} s", flush=True)
    print(f"lost_or_corrupted: {total}")
    return 0 if total == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
