"""Fleet mode: drive remote boards over SSH (OpenSSH on the boards, nothing resident between runs).

The boards run the same CLI (``edgebench run --json``); this controller copies inputs, runs one job at
a time per board, pulls the records back and is the only writer of its store. Modules: ``inventory``
(fleet.yaml), ``ssh`` (asyncssh connections, host-key policy), ``deploy`` (a wheel of this checkout
into a venv on each board), ``queue`` (the durable job table in the store), ``jobs`` (a suite
expanded per board), ``run`` (the controller loop) and ``check`` (what each board can do)."""
