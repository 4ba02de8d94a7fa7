"""Keep unfinished run directories across checkouts: `python runs/stash.py save|restore`.

`runs/` is not in the repository, so a new checkout loses every run in progress (session 40
found 'coordinates paper fold 0 / seed 0' at epoch ~1,913 and every other partial run gone).
`save` packs each run directory under runs/table1 and runs/table3 that has a training state
(`state.eqx`) but no final `metrics.json` into runs/inflight.tar.gz (written atomically; commit it
with `git add -f`). `restore` unpacks a run only where the local copy is missing or has fewer
history lines, so it never replaces a run that went further here. Stop the queues first
(`bash runs/pause.sh STOP`) so that no checkpoint is half written while it is packed.
"""

import os
import sys
import tarfile
from pathlib import Path

ROOTS = (Path("runs/table1"), Path("runs/table3"))
ARCHIVE = Path("runs/inflight.tar.gz")


def unfinished() -> list[Path]:
    """Run directories with a training state and no final evaluation."""
    found = []
    for root in ROOTS:
        for state in sorted(root.glob("**/state.eqx")):
            if not (state.parent / "metrics.json").is_file():
                found.append(state.parent)
    return found


def save() -> None:
    runs = unfinished()
    tmp = ARCHIVE.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for run in runs:
            tar.add(run)
    os.replace(tmp, ARCHIVE)
    print(f"saved {len(runs)} unfinished runs, {ARCHIVE.stat().st_size / 1e6:.1f} MB: {ARCHIVE}")


def history_lines(data: bytes | None) -> int:
    return 0 if data is None else data.count(b"\n")


def restore() -> None:
    with tarfile.open(ARCHIVE) as tar:
        members = tar.getmembers()
        runs = sorted({Path(m.name).parent for m in members if m.name.endswith("state.eqx")})
        for run in runs:
            stored = tar.extractfile(str(run / "history.jsonl"))
            theirs = history_lines(stored.read() if stored else None)
            local = run / "history.jsonl"
            ours = history_lines(local.read_bytes() if local.is_file() else None)
            if (run / "metrics.json").is_file() or ours >= theirs:
                print(f"kept    {run} (here: {ours} history lines, stash: {theirs})")
                continue
            for m in members:
                if Path(m.name).parent == run and m.isfile():
                    target = Path(m.name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(m).read()
                    tmp = target.with_name(target.name + ".tmp")
                    tmp.write_bytes(data)
                    os.replace(tmp, target)
            print(f"restored {run} ({theirs} history lines; here: {ours})")


if __name__ == "__main__":
    if sys.argv[1:] not in (["save"], ["restore"]):
        sys.exit("usage: python runs/stash.py save|restore")
    save() if sys.argv[1] == "save" else restore()
