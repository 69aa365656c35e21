"""The emulated phone's ``/system/bin/sh``: lexer, parser, expansion, executor, builtins and streams."""
