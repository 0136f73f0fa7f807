"""The pages behind the personal links in the mail: ``lps serve``.

A thin face like the CLI: each request is parsed, handed to one call of the
:class:`~workflow.engine.Workflow`, and rendered from the templates in the reader's language.
"""
