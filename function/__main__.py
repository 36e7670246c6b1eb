"""`python -m function`: the `xagent` command, for images without console scripts."""

from function.main import app

app(prog_name="xagent")
