"""The local stack: the Cloud Firestore emulator, a durable function host, and each trigger's bundle in a worker.

Layers, bottom up (nothing here imports `onto_functions.testing` or the CLI):

    children, loopback, polling            processes that die with us, 127.0.0.1 fronts, waiting
    installation, emulator_api,            the emulator: where it is, its HTTP API,
      emulator_client, emulator            clients of it, its process
    workers, worker_pool, worker_launch    processes serving bundles (functions-framework's app),
      zygote, zygote_app, zygote_warmup,   forked from a zygote that imported and warmed what
      worker_child, worker_server          they share; the server inside a forked worker
    queue, faults, backoff, answers,       the host: durable queue, injected faults, retry delays,
      stats, journal, delivery, host,      what answers mean, counters, records, one delivery,
      host_server, receiver                the dispatcher, its HTTP front; the tests' receiver
    stack, demo                            everything wired together; `onto demo`
"""
