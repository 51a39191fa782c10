"""Fault layers of the chaos harness: one registry of fault types (one module each in ``types/``), one envelope
(:class:`FaultSpec`), and the proxies they act through (AWS chaos proxy, Redis TCP fault proxy, DNS hook).

    ctx = FaultContext.from_stack(stack, seed=7)
    rollback = build_fault(FaultSpec.from_mapping({"name": "ddb-throttle", "type": "aws_error",
                                                   "target": {"service": "dynamodb", "operation": "PutItem"},
                                                   "probability": 0.5})).apply(ctx)
    ...
    rollback()
"""
from stack.faults.base import Fault, FaultUnsupported, Rollback
from stack.faults.context import FaultContext
from stack.faults.envelope import FaultDefinitionError, FaultSpec
from stack.faults.registry import build_fault, fault_class, fault_types, register

__all__ = ["Fault", "FaultContext", "FaultDefinitionError", "FaultSpec", "FaultUnsupported", "Rollback",
           "build_fault", "fault_class", "fault_types", "register"]
