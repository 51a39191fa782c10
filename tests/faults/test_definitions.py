"""Fault definitions: the envelope and each type's attributes are validated up front with clear messages."""
from __future__ import annotations

import pytest

from stack.faults import FaultDefinitionError, FaultSpec, build_fault, fault_types

CONTRACT_TYPES = {"noop", "aws_error", "aws_latency", "aws_outage", "redis_outage", "redis_latency", "redis_drop",
                  "process_kill", "process_pause", "az_failure", "worker_crash_loop", "dns_failure",
                  "provider_latency", "provider_error", "provider_429_storm", "provider_hang", "provider_reset",
                  "token_revocation", "webhook_duplicates", "webhook_reorder"}


def test_registry_holds_every_contract_type_with_a_description() -> None:
    types = fault_types()
    assert CONTRACT_TYPES <= set(types)
    assert all(cls.description and "\n" not in cls.description for cls in types.values())


@pytest.mark.parametrize("definition, message", [
    ({"type": "noop"}, "'name'"),
    ({"name": "x"}, "'type' is required"),
    ({"name": "x", "type": "nope"}, "unknown fault type 'nope'"),
    ({"name": "x", "type": "noop", "probability": 1.5}, "'probability' must be a number from 0 to 1"),
    ({"name": "x", "type": "noop", "probability": True}, "'probability'"),
    ({"name": "x", "type": "noop", "colour": "red"}, "unknown field(s) ['colour']"),
    ({"name": "x", "type": "noop", "target": {"planet": "mars"}}, "unknown target field(s) ['planet']"),
    ({"name": "x", "type": "aws_error", "target": {"service": "kinesis"}}, "target.service must be one of"),
    ({"name": "x", "type": "aws_error", "attributes": {"status_code": 200}}, "status_code must be 400-599"),
    ({"name": "x", "type": "aws_latency"}, "missing attribute 'latency_ms'"),
    ({"name": "x", "type": "aws_latency", "attributes": {"latency_ms": "slow"}}, "'latency_ms' must be int/float"),
    ({"name": "x", "type": "aws_outage"}, "target.service is required"),
    ({"name": "x", "type": "redis_outage", "attributes": {"ms": 1}}, "unknown attribute(s) ['ms']"),
    ({"name": "x", "type": "process_kill", "attributes": {"count": 1, "fraction": 0.5}}, "not both"),
    ({"name": "x", "type": "process_kill", "target": {"service": "sqs"}}, "do not apply"),
    ({"name": "x", "type": "dns_failure"}, "exactly one of target.host or target.provider"),
    ({"name": "x", "type": "provider_latency"}, "give latency_ms"),
    ({"name": "x", "type": "provider_error", "target": {"provider": "polar"}}, "target.provider must be one of"),
    ({"name": "x", "type": "noop", "duration_s": -1}, "'duration_s' must be a number of seconds >= 0"),
    ("aws_error", "must be a mapping"),
])
def test_malformed_definitions_say_what_is_wrong(definition: object, message: str) -> None:
    with pytest.raises(FaultDefinitionError) as info:
        build_fault(definition)
    assert message in str(info.value)


def test_spec_round_trips_through_a_mapping() -> None:
    data = {"name": "ddb", "type": "aws_error", "target": {"service": "dynamodb", "operation": "PutItem"},
            "probability": 0.5, "attributes": {"code": "ThrottlingException"}, "start_s": 5.0, "duration_s": 10.0,
            "seed": 3}
    spec = FaultSpec.from_mapping(data)
    assert spec.to_mapping() == data
    assert build_fault(spec).spec is spec
