#!/usr/bin/python3
"""Counts test cases in a meson testlog.json and prints 'N passed, M failed'.

A doctest binary counts as the test cases it reports; a binary that died
before reporting counts as one failure. Any other test (a fuzz corpus
replay, a lint) counts as one case. Exits non-zero if anything failed."""
import json
import re
import sys

DOCTEST = re.compile(r"\[doctest\] test cases:\s*(\d+)\s*\|\s*(\d+) passed\s*\|\s*(\d+) failed")


def main(path):
    passed = failed = 0
    with open(path, encoding="utf-8") as log:
        for line in log:
            entry = json.loads(line)
            ok = entry.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            match = DOCTEST.search(entry.get("stdout", "") or "")
            if match:
                p, f = int(match.group(2)), int(match.group(3))
                if not ok and f == 0:
                    f = 1  # crashed or sanitizer abort after the summary
                passed += p
                failed += f
            elif ok:
                passed += 1
            else:
                failed += 1
                print(f"FAILED: {entry.get('name')}", file=sys.stderr)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
