"""Write a suite run's summary tables into docs/which-teacher.md (between its suite-table markers).

    python benchmarks/suite_docs.py results/suite-standard-.../results.json docs/which-teacher.md \\
        --note "Measured with ... at commit ..., seeds 0-4"

``magister bench --suite NAME --write-docs docs/which-teacher.md`` does the same at the end of a run.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    from magister.bench.args import refuse_config_errors
    from magister.bench.report import load_results
    from magister.bench.suite import check_docs_file, write_docs_table

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", help="results.json of a suite run")
    p.add_argument("doc", help="Markdown file with <!-- suite-table:start --> / <!-- suite-table:end --> markers")
    p.add_argument("--note", default="", help="the line above the tables: command, commit, seeds, date")
    args = p.parse_args(argv)
    # a results file that is missing or not one, a doc without the markers: argparse's error, not a traceback
    refuse_config_errors(p, check_docs_file, args.doc)
    results = refuse_config_errors(p, load_results, args.results)
    refuse_config_errors(p, write_docs_table, results, args.doc, note=args.note)  # (a plain bench run's results)
    print(f"tables written into {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
