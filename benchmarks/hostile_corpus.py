"""The hostile-file corpus (tests/hostile_corpus.py), file by file: outcome, time and memory.

Writes the corpus to a temporary folder, then tries each file in a forked child of one process
(torch imported once): checkpoints with `load_generator`, session files with `DragSession.load`
(and, once loaded, a drag step, a save and a load of what was saved). For each, the CPU time of
the child and its peak resident memory (which includes the ~190 MB of the parent that imported
torch; "added" is what the file cost). `models info` is tried too, and must fail where the load
fails; the table shows the load.

    python benchmarks/hostile_corpus.py [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile_corpus import MARKER, problems, run_corpus, write_corpus  # noqa: E402


def outcome(result, case) -> str:
    if result.outcome == "loaded":
        return "loads" + (" (its drag step is refused)" if "refused" in result.note else "")
    if result.outcome != "error":
        return f"**{result.outcome}** {result.note}"
    reason = result.message.split(f"{case.name}", 1)[-1].lstrip(":").strip()
    reason = reason.replace("|", "/")
    return "refused: " + (reason if len(reason) <= 90 else reason[:87] + "...")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = write_corpus(folder)
        results = run_corpus(cases, folder)
        by_name = {c.name: c for c in cases}
        wrong = [p for r in results for p in problems(by_name[r.case], r, folder)]
        sizes = {c.name: (folder / c.name).stat().st_size for c in cases}
        ran = (folder / MARKER).exists()
    shown = [r for r in results if r.action != "info"]
    lines = [
        "| file | what it tries | size | outcome | CPU ms | peak MB (added) |",
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    for r in shown:
        case = by_name[r.case]
        lines.append(
            f"| `{r.case}` | {case.issue} | {sizes[r.case]:,} | {outcome(r, case)} | "
            f"{r.cpu_s * 1000:.0f} | {r.peak_mb:.0f} ({r.added_mb:+.0f}) |"
        )
    worst_cpu = max(r.cpu_s for r in results)
    worst_peak = max(r.peak_mb for r in results)
    summary = (
        f"{len(cases)} files, {len(results)} runs ({os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}): {len(wrong)} problems; code from a file ran: "
        f"{'YES' if ran else 'no'}; slowest run {worst_cpu:.2f} s CPU; highest peak "
        f"{worst_peak:.0f} MB."
    )
    table = "\n".join(lines)
    print(table)
    print()
    print(summary)
    for problem in wrong:
        print("PROBLEM:", problem)
    if args.markdown:
        args.markdown.write_text(f"{summary}\n\n{table}\n")


if __name__ == "__main__":
    main()
