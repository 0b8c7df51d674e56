"""The pytest side of the plugin: session state, fixture machinery, scenario-file items,
the syrupy extension. ``plugin.py`` wires these in; they import pytest, the core never does.
"""
