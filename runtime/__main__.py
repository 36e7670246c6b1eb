"""``python -m runtime`` (the image's entrypoint) and ``xagent-runtime``: one command per job.

No argument serves the agent (runtime.main). ``enqueue`` puts one scheduled job on the queue
and exits (runtime.enqueue); it is dispatched before the server's modules load, so a
schedule's short-lived pod never imports LangGraph, FastAPI or uvicorn. ``task`` runs the
agent once on the task's input and exits (runtime.task, task mode's Job).
"""

from __future__ import annotations

import sys

__all__ = ["run"]

USAGE = "usage: xagent-runtime [enqueue | task]\n"


def run() -> None:
    """Dispatch on the first argument."""
    args = sys.argv[1:]
    if args == ["enqueue"]:
        from runtime import enqueue

        sys.exit(enqueue.main())
    if args == ["task"]:
        from runtime import task

        sys.exit(task.main())
    if args:
        sys.stderr.write(f"{USAGE}unknown arguments: {' '.join(args)}\n")
        sys.exit(2)
    from runtime.main import main

    main()


if __name__ == "__main__":
    run()
