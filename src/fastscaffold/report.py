"""A check report as JSON (schema: check-report.schema.json), JUnit XML, or a text table."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

from fastscaffold import __version__
from fastscaffold.check import Report

SCHEMA = Path(__file__).with_name("check-report.schema.json")
MARK = {"pass": "ok", "fail": "FAIL", "skip": "skip"}


def as_json(report: Report) -> str:
    """The report as the JSON document the schema describes."""
    document = {
        "schema_version": 1,
        "fastscaffold": __version__,
        "project": str(report.project),
        "ok": report.ok,
        "answers": report.answers,
        "steps": [
            {
                "name": step.name,
                "status": step.status,
                "duration": step.duration,
                "reason": step.reason,
                "output": step.output,
            }
            for step in report.steps
        ],
    }
    return json.dumps(document, indent=2)


def as_junit(report: Report) -> str:
    """The report as JUnit XML: one test case per step."""
    failures = sum(step.status == "fail" for step in report.steps)
    skipped = sum(step.status == "skip" for step in report.steps)
    suite = ElementTree.Element(
        "testsuite",
        name="fastscaffold check",
        tests=str(len(report.steps)),
        failures=str(failures),
        skipped=str(skipped),
        time=f"{sum(step.duration for step in report.steps):.3f}",
    )
    for step in report.steps:
        case = ElementTree.SubElement(
            suite,
            "testcase",
            classname=str(report.project),
            name=step.name,
            time=f"{step.duration:.3f}",
        )
        if step.status == "fail":
            failure = ElementTree.SubElement(case, "failure", message=step.reason or "failed")
            failure.text = step.output or ""
        elif step.status == "skip":
            ElementTree.SubElement(case, "skipped", message=step.reason or "skipped")
    root = ElementTree.Element("testsuites")
    root.append(suite)
    return ElementTree.tostring(root, encoding="unicode", xml_declaration=True)


def as_text(report: Report) -> str:
    """A table for people, with the reason and output tail of each failure below it."""
    lines = [f"{'STEP':<9} {'RESULT':<6} {'TIME':>7}  REASON"]
    for step in report.steps:
        reason = step.reason or ""
        lines.append(f"{step.name:<9} {MARK[step.status]:<6} {step.duration:>6.1f}s  {reason}")
    for step in report.steps:
        if step.status == "fail" and step.output:
            lines += ["", f"--- {step.name}: last lines of output ---", step.output]
    verdict = "all steps passed" if report.ok else "FAILED"
    lines += ["", f"{report.project}: {verdict}"]
    return "\n".join(lines)
