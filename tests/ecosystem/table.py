"""Write the real-ecosystem suite's outcome table into docs/hosting.md.

    python tests/ecosystem/table.py RESULTS.json            # print the table
    python tests/ecosystem/table.py RESULTS.json --docs     # replace it in docs/hosting.md

RESULTS.json is what the suite writes when PLUGINHOST_ECOSYSTEM_REPORT names a file (the
`ecosystem` tox env does, into its temp dir).
"""

from __future__ import annotations

import datetime
import json
import platform
import re
import sys
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hosting.md"
BEGIN = "<!-- ecosystem table: begin (written by tests/ecosystem/table.py) -->"
END = "<!-- ecosystem table: end -->"


def table(results: dict[str, Any], today: datetime.date) -> str:
    """The outcome table, with the date, the Python and the applications' versions."""
    apps = ", ".join(f"{name} {app['version']}" for name, app in sorted(results["apps"].items()))
    counts: dict[str, int] = {}
    for row in results["plugins"]:
        key = f"needs a feature ({row['outcome']})" if row["needs"] else row["outcome"]
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    lines = [
        f"Measured on {today.isoformat()} with Python {platform.python_version()}, {apps}: "
        f"{len(results['plugins'])} distributions; {summary}.",
        "",
        "| application | distribution | version | outcome | why |",
        "|---|---|---|---|---|",
    ]
    for row in results["plugins"]:
        outcome = row["outcome"] if not row["needs"] else f"{row['outcome']}: needs {row['needs']}"
        # The probes' temporary folders say nothing: a wheel is named by its file name.
        why = re.sub(r"/\S+/(?=[^/\s]+\.whl)", "", row["detail"])
        why = why.replace("|", "\\|").replace("\n", " ")
        if len(why) > 160:
            why = why[:157] + "..."
        lines.append(f"| {row['app']} | {row['dist']} | {row['version']} | {outcome} | {why} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    results = json.loads(Path(argv[0]).read_text())
    text = table(results, datetime.date.today())
    if "--docs" not in argv:
        print(text)
        return 0
    page = DOCS.read_text()
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOCS.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
