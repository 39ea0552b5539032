"""Click commands: parse, call the core, print. The only layer that prints or exits."""
