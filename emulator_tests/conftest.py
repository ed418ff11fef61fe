"""The fixtures (firestore_emulator, event_receiver, project_id, db, onto_stack) come from
the `onto_functions` pytest plugin, which the package's pytest11 entry point loads.

With plugin autoloading off (PYTEST_DISABLE_PLUGIN_AUTOLOAD=1) run `pytest -p onto_functions`;
`onto_functions/testing/plugin.py` lists every way to enable it."""
