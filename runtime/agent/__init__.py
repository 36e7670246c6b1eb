"""The agent room: definition and grants files, graph, chat models, tools, job executor."""
