"""Allow `python -m mentorkb`."""

from mentorkb.cli import main

if __name__ == "__main__":
    main()
