"""The parts of a recorded run (:mod:`sofkd_lib.companion.record` runs them in order).

- :mod:`.options`: what a run records: its options, the entries (Table 1's variants and the ablations),
  the test sets every model is scored on (:data:`~.options.TEST_COLUMNS`), seeds and configs;
- :mod:`.train`: training one unit (an entry, or one seed of it) in the work folder, or finding it trained;
- :mod:`.evaluate`: scoring a unit on the test sets, choosing the stored precision, writing its files and
  provenance; bicubic, an existing teacher, and the teacher-gain rule;
- :mod:`.index`: ``index.json``, ``README.md`` and the models set aside.
"""
