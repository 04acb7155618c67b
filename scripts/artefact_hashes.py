"""Compare the files two test runs produced, by sha256 (standard library only).

    python3 scripts/run_tests.py -q --basetemp /tmp/art-before   # on the old commit
    python3 scripts/run_tests.py -q --basetemp /tmp/art-after_   # on the new one
    python3 scripts/artefact_hashes.py /tmp/art-before /tmp/art-after_ [--list]

Give the two base directories paths of the same length: the second's path is then
replaced by the first's inside every file before hashing, so files that record
absolute paths (asset sources, specs) compare equal when nothing else changed.

Prints how many files are identical, differ, or exist in only one run, grouped by
test directory (the first path component under the base temp directory).  Exits 1
when a file present in both runs differs, unless its test is listed with
``--nondeterministic`` (tests that write random or time-dependent bytes on purpose).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path


def hashes(root: Path, rename: tuple[bytes, bytes] | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` of every regular file below ``root``.

    ``rename`` = ``(old, new)`` replaces ``old`` by ``new`` in each file's bytes before
    hashing: files that record their own absolute path (asset sources in a graph,
    paths in a spec) then compare equal across two base directories whose names have
    the same length (so length prefixes in protos and zips stay valid).
    """
    found: dict[str, str] = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if rename is not None:
                data = data.replace(*rename)
            found[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--list", action="store_true", help="list every differing file")
    parser.add_argument("--nondeterministic", nargs="*", default=[],
                        help="test directories whose files may differ between runs")
    args = parser.parse_args(argv)
    old, new = os.fsencode(args.after.resolve()), os.fsencode(args.before.resolve())
    rename = (old, new) if len(old) == len(new) else None
    if rename is None:
        print("note: the base directories' paths differ in length; files that record "
              "their own path will differ")
    before, after = hashes(args.before), hashes(args.after, rename)
    common = before.keys() & after.keys()
    differ = sorted(p for p in common if before[p] != after[p])
    only_before = sorted(before.keys() - after.keys())
    only_after = sorted(after.keys() - before.keys())
    print(f"{len(common) - len(differ)} identical, {len(differ)} differ, "
          f"{len(only_before)} only before, {len(only_after)} only after")
    for title, paths in (("differ", differ), ("only before", only_before),
                         ("only after", only_after)):
        by_test = Counter(p.split(os.sep)[0] for p in paths)
        if by_test:
            print(f"{title}: " + ", ".join(f"{t} ({n})" for t, n in sorted(by_test.items())))
        if args.list:
            for path in paths:
                print(f"  {title}: {path}")
    allowed = set(args.nondeterministic)
    unexplained = [p for p in differ if p.split(os.sep)[0] not in allowed]
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
