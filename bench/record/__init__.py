"""The run record: its typed schema, its validator, and the run folder that holds it.

No torch, numpy or pandas anywhere in this package: the data-only commands (`check`, `verify`,
`fleet`, `compare`) read runs through it on a lean install.

    schema.py    TypedDicts of run.json / verdict.json; SCHEMA_VERSION, METHOD_VERSION
    validate.py  walks those TypedDicts over a decoded value
    jsonfile.py  the strict JSON reader and the atomic JSON/text writer
    folder.py    RunFolder: file names, read_run, read_verdict, writers
"""
