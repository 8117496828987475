"""Queue mode: one or more API replicas hand consent-checked generations to `sonic-ext worker`
processes on other machines, through a queue in the registry's PostgreSQL database.

`engine` (procrastinate, and why), `jobs` (the API's side: rows every replica reads), `worker`
(the GPU side: gate again, generate, publish to the shared store, requeue jobs of dead workers).
Light on purpose: the CLI imports this module's constants without the queue's packages.
"""

STALL_TIMEOUT_S = 30.0  # no heartbeat for this long: a worker is gone and its job runs again
