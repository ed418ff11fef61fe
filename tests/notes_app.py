"""The smallest app with one trigger (`notes-index`), as source text, for tests that write it to disk."""

NOTES_APP = '''
from onto_functions import Mediator, sink, source

class Notes(Mediator):
    source = source.document("notes/{note_id}")
    sink = sink.firestore()

    @source.triggers.on_create
    def index(self, change, store):
        pass
'''
