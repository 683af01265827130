"""CPU-bound work for the process pool; module-level so worker processes can import it."""

import os


def count_primes(limit: int) -> tuple[int, int]:
    """Count the primes below `limit` by trial division; also return this process's pid."""
    count = 0
    for n in range(2, limit):
        if all(n % d for d in range(2, int(n**0.5) + 1)):
            count += 1
    return count, os.getpid()
