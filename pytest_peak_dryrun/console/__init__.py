"""The watch-only operator side behind ``peak-dryrun``: report, validate, serve.

It reads snapshot directories and never writes under them, places orders or changes state;
it never imports pytest.
"""
