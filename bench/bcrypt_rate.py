"""Reference bcrypt rate for bench/run.sh: hash N passwords at a given cost, print the seconds.

    python3 bench/bcrypt_rate.py N COST

Uses the `bcrypt` package of PyPI (pyca/bcrypt). run.sh starts one process per core at once
and divides the hashes by the wall time: the machine's raw bcrypt rate on every core.
"""

import sys
import time

import bcrypt


def main() -> None:
    n = int(sys.argv[1])
    cost = int(sys.argv[2])
    password = b"bench-password-123"
    # One hash outside the timing: import, page faults, CPU frequency ramp-up.
    bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost))
    start = time.perf_counter()
    for _ in range(n):
        bcrypt.hashpw(password, bcrypt.gensalt(rounds=cost))
    print(f"{time.perf_counter() - start:.6f}")


if __name__ == "__main__":
    main()
