#!/usr/bin/env python3
"""Adds up JUnit XML reports (lit, ctest, pytest) into one closing line.

Prints one line per report and then `summary: N passed, N failed, N skipped`;
exits 1 if any test failed or a report is missing or unreadable.
"""

import sys
import xml.etree.ElementTree as ET


def count(path):
    root = ET.parse(path).getroot()
    passed = failed = skipped = 0
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return passed, failed, skipped


def main(paths):
    totals = [0, 0, 0]
    ok = bool(paths)
    for path in paths:
        try:
            p, f, s = count(path)
        except (OSError, ET.ParseError) as err:
            print(f"{path}: unreadable report ({err})")
            ok = False
            continue
        print(f"{path}: {p} passed, {f} failed, {s} skipped")
        for i, n in enumerate((p, f, s)):
            totals[i] += n
    print(f"summary: {totals[0]} passed, {totals[1]} failed, {totals[2]} skipped")
    return 0 if ok and totals[1] == 0 and totals[0] > 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
