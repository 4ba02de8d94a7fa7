"""Keep unfinished run directories across checkouts: `python runs/stash.py save|restore`.

`runs/` is not in the repository, so a new checkout loses every run in progress (session 40
found 'coordinates paper fold 0 / seed 0' at epoch ~1,913 and every other partial run gone).
`save` packs each run directory under runs/table1 and runs/table3 that has a training state
(`state.eqx`) but no final `metrics.json` into runs/inflight/, one archive per run (so that no
file in the repository grows past a run's size; the directory is replaced whole, commit it with
`git add -f`), and with them each table cell's best-on-validation finished run, per protocol
(the files `hogwild reproduce instances` keeps, about 20 KB a run), so that keeping a cell's
instance later never has to retrain it, and every saved state of a simulated run
(`results/**/*.checkpoints/*.ckpt`: Table 2's asynchronous runs, gitignored too). `restore` unpacks a run only where the stash holds more of
it (finished there and not here, or a longer history; a simulated run's state where it has
made more steps), so it never replaces a run that went further here. Stop the queues first
(`bash runs/pause.sh STOP`) so that no checkpoint is half written while it is packed.
"""

import io
import json
import os
import shutil
import sys
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

from hogwild.experiments._instances import INSTANCE_FILES, best_row
from hogwild.train._checkpoint import read_header

ROOTS = (Path("runs/table1"), Path("runs/table3"))
#: Saved states of simulated (Table 2) runs: gitignored, lost with a checkout like runs/
#: (session 49 found coordinates energy-edge seed 1, ~2 M steps in, gone).
SIMULATED = "results/**/*.checkpoints/*.ckpt"
STASH = Path("runs/inflight")
#: No file in the repository may exceed 1 MiB: a larger archive is stored in parts of this
#: many bytes (``NAME.tar.gz.part00``, ``.part01``, ...) and joined again by `restore`
#: (session 42: six MNIST GAT runs made 1.9 MB archives and were left out by hand).
PART_BYTES = 1_000_000


def is_final(metrics: bytes | None) -> bool:
    """Whether a metrics.json is a finished run's: a run interrupted mid-training writes one
    too (``"stopped": "interrupted during epoch N"``, no test metrics) and resumes later."""
    if metrics is None:
        return False
    saved = json.loads(metrics)
    return "test" in saved and not saved.get("stopped", "").startswith("interrupted")


def local_metrics(run: Path) -> bytes | None:
    path = run / "metrics.json"
    return path.read_bytes() if path.is_file() else None


def unfinished() -> list[Path]:
    """Run directories with a training state and no final evaluation."""
    found = []
    for root in ROOTS:
        for state in sorted(root.glob("**/state.eqx")):
            if not is_final(local_metrics(state.parent)):
                found.append(state.parent)
    return found


def best_finished() -> list[Path]:
    """Each cell's best-on-validation run, per protocol, where its finished directory is here."""
    cells = defaultdict(list)
    for table in ("results/table1.jsonl", "results/table3.jsonl"):
        for line in Path(table).read_text().splitlines():
            row = json.loads(line)
            cells[row["protocol"], row["task"], row["model"]].append(row)
    found = []
    for (protocol, task, model), rows in sorted(cells.items()):
        run = Path(best_row(rows, task, model, protocol)["run"])
        if all((run / name).is_file() for name in INSTANCE_FILES):
            found.append(run)
    return found


def archive_name(run: Path) -> str:
    return "__".join(run.parts) + ".tar.gz"


def save() -> None:
    runs, best = unfinished(), best_finished()
    simulated = sorted(Path().glob(SIMULATED))
    tmp = STASH.with_name(STASH.name + ".tmp")
    tmp.mkdir()
    for run in runs:
        with tarfile.open(tmp / archive_name(run), "w:gz") as tar:
            tar.add(run)
    for run in best:
        with tarfile.open(tmp / archive_name(run), "w:gz") as tar:
            for name in INSTANCE_FILES:
                tar.add(run / name)
    for state in simulated:
        with tarfile.open(tmp / archive_name(state), "w:gz") as tar:
            tar.add(state)
    for archive in sorted(tmp.iterdir()):
        split_if_large(archive)
    if STASH.exists():
        old = STASH.with_name(STASH.name + ".old")
        os.replace(STASH, old)
        shutil.rmtree(old)
    os.replace(tmp, STASH)
    sizes = [f.stat().st_size for f in STASH.iterdir()]
    print(
        f"saved {len(runs)} unfinished runs, {len(best)} best finished ones and "
        f"{len(simulated)} simulated run states: "
        f"{sum(sizes) / 1e6:.1f} MB, largest archive {max(sizes, default=0) / 1e6:.2f} MB"
    )


def split_if_large(archive: Path) -> None:
    """Replace an archive above `PART_BYTES` by its consecutive parts."""
    data = archive.read_bytes()
    if len(data) <= PART_BYTES:
        return
    for k, start in enumerate(range(0, len(data), PART_BYTES)):
        part = archive.with_name(f"{archive.name}.part{k:02d}")
        part.write_bytes(data[start : start + PART_BYTES])
    archive.unlink()


def archives() -> list[bytes]:
    """Every stashed archive's bytes, split ones joined from their parts in order."""
    whole = [f.read_bytes() for f in sorted(STASH.glob("*.tar.gz"))]
    parts = defaultdict(list)
    for part in sorted(STASH.glob("*.tar.gz.part*")):
        parts[part.name.rsplit(".part", 1)[0]].append(part.read_bytes())
    return whole + [b"".join(chunks) for _, chunks in sorted(parts.items())]


def member(tar: tarfile.TarFile, name: str) -> bytes | None:
    try:
        return tar.extractfile(name).read()
    except KeyError:
        return None


def history_lines(tar: tarfile.TarFile, name: str) -> int:
    return (member(tar, name) or b"").count(b"\n")


def newer_in_stash(tar: tarfile.TarFile, run: Path) -> bool:
    """Whether the stash holds more of ``run`` than this checkout: a finished run here wins;
    else a finished run in the stash; else the longer training history."""
    if is_final(local_metrics(run)):
        return False
    if is_final(member(tar, str(run / "metrics.json"))):
        return True
    local = run / "history.jsonl"
    ours = local.read_bytes().count(b"\n") if local.is_file() else 0
    return history_lines(tar, str(run / "history.jsonl")) > ours


def restore() -> None:
    for data in archives():
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            restore_from(tar)


def simulated_steps(data: bytes | None) -> int:
    """Steps a saved simulated run had made (its header's meta), -1 for no file."""
    if data is None:
        return -1
    with tempfile.NamedTemporaryFile(suffix=".ckpt") as f:
        f.write(data)
        f.flush()
        return read_header(f.name)[0].get("meta", {}).get("steps", 0)


def restore_simulated(tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
    """Unpack a simulated run's state where the stash's has made more steps than this one's."""
    target = Path(m.name)
    stashed = simulated_steps(tar.extractfile(m).read())
    here = simulated_steps(target.read_bytes() if target.is_file() else None)
    if stashed <= here:
        print(f"kept     {target} (step {here:,})")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_bytes(tar.extractfile(m).read())
    os.replace(tmp, target)
    print(f"restored {target} (step {stashed:,})")


def restore_from(tar: tarfile.TarFile) -> None:
    members = [m for m in tar.getmembers() if m.isfile()]
    if len(members) == 1 and members[0].name.endswith(".ckpt"):
        return restore_simulated(tar, members[0])
    for run in sorted({Path(m.name).parent for m in members}):
        if not newer_in_stash(tar, run):
            print(f"kept     {run}")
            continue
        for m in members:
            if Path(m.name).parent == run:
                target = Path(m.name)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".tmp")
                tmp.write_bytes(tar.extractfile(m).read())
                os.replace(tmp, target)
        print(f"restored {run}")


if __name__ == "__main__":
    if sys.argv[1:] not in (["save"], ["restore"]):
        sys.exit("usage: python runs/stash.py save|restore")
    save() if sys.argv[1] == "save" else restore()
