"""One module per fault type; each registers its class with :func:`stack.faults.registry.register`."""
