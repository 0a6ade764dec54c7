"""The ``episode-assistant`` command line: the composition root, above every other package.

It builds the one ``Settings`` object and hands it down to ``vectorstore``, ``assistant``,
``ui`` and ``eval``; nothing below imports it.
"""
