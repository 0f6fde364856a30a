import sys

from platform_stack.bench import main

sys.exit(main())
