"""Settings modules of separate machines running workers, for
``tests/lifecycle/test_workers_on_many_hosts.py``."""
