"""The stack fixtures (``syncwell_stack``, ``syncwell_stack_factory``) from the ``stack.testing`` plugin."""
from stack.testing import syncwell_stack, syncwell_stack_factory  # noqa: F401  (fixtures, used by name)
