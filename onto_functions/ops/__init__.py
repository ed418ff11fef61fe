"""Operating a deployed app: dead letters (list, replay, discard) and view backfills.

Above the runtime (these modules run the same executor a deployed function
runs, in the operator's process) and below the CLI, which only parses and
renders. Never imported by a deployed function.
"""
