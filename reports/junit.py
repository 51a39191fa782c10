"""``junit.xml``: one test case per gate, so any CI shows which SLO failed, measured vs threshold."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from reports.gates import GateReport, GateResult

JUNIT_FILE = "junit.xml"
SUITE_NAME = "swsim.slo_gates"


def _measured_text(result: GateResult) -> str:
    if result.measured is None:
        return "no data"
    return f"measured {result.measured:.6g} {result.gate.unit}, threshold {result.gate.describe_threshold()}"


def _testcase(result: GateResult) -> ET.Element:
    case = ET.Element("testcase", {"classname": SUITE_NAME, "name": result.gate.name, "time": "0"})
    if result.status == "fail":
        failure = ET.SubElement(case, "failure", {"message": result.failure_message(), "type": "SLOGateFailed"})
        failure.text = "\n".join([
            f"{result.gate.name}: {result.gate.description}",
            f"{_measured_text(result)} over {result.samples} samples",
            *(f"window {w.index} starting at {w.start_s:g}s: {w.measured:.6g} {result.gate.unit} "
              f"over {w.samples} samples" for w in result.failed_windows),
        ])
    elif result.status == "no_data":
        ET.SubElement(case, "skipped", {"message": f"{result.gate.name}: no data recorded for this gate"})
    else:
        ET.SubElement(case, "system-out").text = f"{_measured_text(result)}; {result.windows_judged} windows judged"
    return case


def build_junit(report: GateReport) -> ET.ElementTree:
    failures = sum(1 for r in report.results if r.status == "fail")
    skipped = sum(1 for r in report.results if r.status == "no_data")
    suite = ET.Element("testsuite", {
        "name": SUITE_NAME, "tests": str(len(report.results)), "failures": str(failures),
        "errors": "0", "skipped": str(skipped), "time": "0",
    })
    for result in report.results:
        suite.append(_testcase(result))
    suites = ET.Element("testsuites", {"name": "swsim", "tests": suite.get("tests", "0"),
                                       "failures": str(failures), "errors": "0"})
    suites.append(suite)
    return ET.ElementTree(suites)


def write_junit(path: Path, report: GateReport) -> None:
    tree = build_junit(report)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
