"""The exit statuses tpython itself ends a process with, each named once.

Python reads them here; C gets the ones it uses when the hook is installed
(tpython.engine.engine.Engine.c_options), so no number is written twice.
"""
OK = 0
FAILURE = 1
USAGE = 2          # the command line makes no sense; a launch the policy does not allow
CONFIG = 78        # EX_CONFIG: a policy, sink, manifest or key that cannot be used
CODE_REFUSED = 126  # as a shell says of a file it cannot execute
NOT_FOUND = 127    # as a shell says of a program it cannot find (a worker that cannot start)
KILLED = 255       # a `kill` rule, [log] on_sink_failure = "fail-closed", a critical failure (as spython)
