"""Reports: the run as data (JSON), as a terminal table, and as Markdown."""
