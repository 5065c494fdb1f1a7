"""The `hrm` command line: parse, call into engine/agent/datasets, render. Nothing else lives here."""
