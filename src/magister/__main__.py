"""``python -m magister ...``: the ``magister`` command line (the same as the installed ``magister`` script)."""

from magister.cli import main

if __name__ == "__main__":
    main()
