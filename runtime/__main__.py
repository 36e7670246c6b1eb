"""``python -m runtime``: the agent runtime process (see runtime.main)."""

from runtime.main import main

if __name__ == "__main__":
    main()
