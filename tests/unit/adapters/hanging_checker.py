"""A stand-in FAUCET checker process: accepts every file, but never answers for a path
containing "hang" (as a parser stuck on a file would)."""

from __future__ import annotations

import json
import sys
import time

if __name__ == "__main__":
    for line in sys.stdin:
        if "hang" in json.loads(line)["path"]:
            time.sleep(3600)
        sys.stdout.write(json.dumps({"ok": True}) + "\n")
        sys.stdout.flush()
