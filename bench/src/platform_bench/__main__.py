import sys

from platform_bench import main

# Guarded: a figure that spawns processes (multiprocess executor) re-imports this module.
if __name__ == "__main__":
    sys.exit(main())
