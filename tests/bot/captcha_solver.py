"""A captcha "desk" for tests (CHORUS_CAPTCHA_COMMAND): plays the person who reads the image.

    python tests/bot/captcha_solver.py SANDBOX_URL [right|wrong|another-then-right] IMAGE

The person's reading comes from the sandbox's test API (`GET /_sandbox/captcha`, the text of
the latest image), never from the image: the bot only hands the image over. `wrong` answers
something else; `another-then-right` first asks for another image (an empty line). Each call
appends a line to SOLVER_LOG (if set) with the image's size, proving the image reached it.
"""
import json
import os
import sys
import urllib.request
from pathlib import Path


def main() -> int:
    url, mode, image = sys.argv[1], sys.argv[2], Path(sys.argv[-1])
    log = os.environ.get("SOLVER_LOG")
    attempt = int(os.environ.get("CHORUS_CAPTCHA_ATTEMPT", "0"))
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(json.dumps({"image": str(image), "bytes": image.stat().st_size, "attempt": attempt,
                                  "email": os.environ.get("CHORUS_CAPTCHA_LOGIN_EMAIL")}) + "\n")
    if mode == "another-then-right" and not (log and Path(log).read_text().count("\n") > 1):
        print("")
        return 0
    if mode == "wrong":
        print("ZZZZZ")
        return 0
    with urllib.request.urlopen(f"{url}/_sandbox/captcha", timeout=10) as answer:
        print(json.load(answer)["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
