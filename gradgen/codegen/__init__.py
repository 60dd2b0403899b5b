"""From an optimized graph to Python source: the printer (one statement per equation) and
the emitter (functions, docstrings, template, black)."""
