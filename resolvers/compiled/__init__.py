"""Compiled reads: a root field over the shared data answered by one SQL statement whose result
is the field's JSON, built by the database with the caller's plan inside (see DESIGN.md,
"Execution: compiled reads"). ``selection`` walks the document, ``build`` and ``dialect`` and
``masks`` write the SQL, ``dispatch`` decides what is compiled and splices the answers."""
