"""Allow `python -m oubliette`."""

from oubliette.cli.main import main

if __name__ == "__main__":
    main()
