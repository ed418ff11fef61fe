"""The emulator fixtures (firestore_emulator, project_id, db, event_receiver) come from
the `onto_functions` pytest plugin, registered by the package's pytest11 entry point."""
