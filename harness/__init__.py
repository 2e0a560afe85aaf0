"""edgebench's core: suites, plans, the runner, data, the model zoo, quality scoring and the CLI."""

__version__ = "0.1.0"
