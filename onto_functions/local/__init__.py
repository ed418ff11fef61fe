"""Run Firestore-triggered functions locally: the Cloud Firestore emulator and an event receiver."""
