"""Writing a benchmark's figures into its own section of BENCHMARKS.md."""

from __future__ import annotations

from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def write_section(name: str, heading: str, lines: list[str], path: Path = BENCHMARKS) -> None:
    """Replace the text between `<!-- name:begin -->` and `<!-- name:end -->` with `lines`
    (appending the section under `heading` the first time)."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    section = "\n".join([begin, *lines, end])
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if begin in text:
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        text = head + section + tail
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n" + section + "\n"
    path.write_text(text)
