#!/usr/bin/env bash
# Prints a TCP port P such that 127.0.0.1:P .. P+N-1 are all free right now
# (below Linux's ephemeral range, so outgoing connections do not take them).
# Used to give each test run's daemons ports of their own.
#
#   scripts/free-port.sh [N=1]
set -euo pipefail
python3 - "${1:-1}" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(500):
    base = random.randint(20000, 32000 - n)
    held = []
    try:
        for port in range(base, base + n):
            s = socket.socket()
            held.append(s)
            s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        for s in held:
            s.close()
    print(base)
    sys.exit(0)
sys.exit("free-port: no range of %d free ports found" % n)
PY
