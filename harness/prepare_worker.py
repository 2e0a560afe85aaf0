"""The process a run's prepare step runs in (``harness.launchers.prepare_in_own_process``).

It reads (plan, cache_dir, parent pid) pickled on stdin, runs ``Phases.prepare`` (conversion, calibration,
quantization, int8-auto's search: everything lands in the artifact cache), and writes ("ok", figures) or
("error", exception) pickled to the file descriptor named on its command line. Its stdout and stderr are
the run's, so what a converter prints is seen as before.
"""

from __future__ import annotations

import os
import pickle
import sys


def main(answer_fd: int) -> int:
    from harness.launchers import die_with_parent
    from harness.phases import Phases, ru_maxrss_bytes

    plan, cache_dir, parent_pid = pickle.loads(sys.stdin.buffer.read())
    die_with_parent(parent_pid)
    try:
        phases = Phases(plan, plan.backend_class()(plan.backend_options()), cache_dir)
        phases.prepare()
        phases.backend.close()
        answer: tuple[str, object] = ("ok", {"prepare_s": phases.result.prepare_s,
                                             "int8_auto": phases.result.int8_auto,
                                             "ru_maxrss_bytes": ru_maxrss_bytes()})
    except BaseException as exc:
        answer = ("error", exc)
    try:
        data = pickle.dumps(answer)
    except Exception:  # an exception that does not pickle: its type and text still go back
        data = pickle.dumps(("error", RuntimeError(f"{type(answer[1]).__name__}: {answer[1]}"[:2000])))
    with os.fdopen(answer_fd, "wb") as out:
        out.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
