"""Entry script of the bundled app: the same ``latent-studio`` command a source install has."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen app re-executes itself for worker processes
    from studio.cli import main

    sys.exit(main())
