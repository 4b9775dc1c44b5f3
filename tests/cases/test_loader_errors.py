"""Every class of case-type file error is caught at load, naming the file and the path."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from shequ.cases.definitions import (
    CaseTypeError,
    LoadProblem,
    load_case_type_file,
    load_case_types,
)

BASE: dict[str, Any] = {
    "id": "sample",
    "zh": "样例",
    "en": "Sample",
    "family": "services",
    "report_roles": ["resident"],
    "categories": [{"key": "general", "zh": "一般", "en": "General"}],
    "fields": [
        {"key": "description", "zh": "描述", "en": "Description", "type": "text",
         "required": True},
        {"key": "amount", "zh": "金额", "en": "Amount", "type": "money", "report": False},
        {"key": "level", "zh": "级别", "en": "Level", "type": "enum", "default": "low",
         "values": [{"key": "low", "zh": "低", "en": "Low"},
                    {"key": "high", "zh": "高", "en": "High"}]},
    ],
    "states": [
        {"key": "open", "zh": "待办", "en": "Open"},
        {"key": "doing", "zh": "办理中", "en": "Doing", "accepted": True},
        {"key": "paying", "zh": "待支付", "en": "Paying", "accepted": True},
        {"key": "done", "zh": "已完成", "en": "Done", "terminal": True, "closed": True},
    ],
    "initial": "open",
    "transitions": [
        {"key": "take", "zh": "接单", "en": "Take", "from": ["open"], "to": "doing",
         "roles": ["property_manager"], "assigns": True},
        {"key": "finish", "zh": "完成", "en": "Finish", "from": ["doing"], "to": "paying",
         "roles": ["assignee"], "required": ["amount"]},
        {"key": "pay", "zh": "支付", "en": "Pay", "from": ["paying"], "to": "done",
         "roles": ["reporter"]},
    ],
    "sla": {
        "warn": 0.8,
        "low": {"accept": "1d", "close": "7d"},
        "normal": {"accept": "4h", "close": "3d"},
        "high": {"accept": "1h", "close": "1d"},
        "urgent": {"accept": "30m", "close": "4h"},
    },
    "dispatch": {"mode": "grab", "team_roles": ["property_manager"]},
    "payment": {"state": "paying", "field": "amount", "skip_to": "done"},
    "rating": {"by": ["reporter"]},
}


def _write(directory: Path, doc: Any, name: str = "sample.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def _problems(tmp_path: Path, mutate: Callable[[dict[str, Any]], None]) -> list[LoadProblem]:
    doc = copy.deepcopy(BASE)
    mutate(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(CaseTypeError) as info:
        load_case_type_file(path)
    problems = list(info.value.problems)
    assert all(p.file == str(path) for p in problems)
    return problems


def _found(problems: list[LoadProblem], kind: str, path: str) -> bool:
    return any(p.kind == kind and p.path == path for p in problems)


def test_the_base_document_is_valid(tmp_path: Path) -> None:
    case_type = load_case_type_file(_write(tmp_path, BASE))
    assert case_type.id == "sample"
    assert case_type.transition_map["take"].assigns == "grab"
    assert case_type.field_map["level"].default == "low"


def _add_state(doc: dict[str, Any], key: str, **flags: Any) -> None:
    doc["states"].append({"key": key, "zh": key, "en": key, **flags})


def _add_transition(doc: dict[str, Any], key: str, sources: list[str], target: str,
                    **extra: Any) -> None:
    doc["transitions"].append({"key": key, "zh": key, "en": key, "from": sources,
                               "to": target, "roles": ["property_manager"], **extra})


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    ("unknown target state",
     lambda d: d["transitions"][1].update(to="nowhere"), "unknown_state", "transitions[1].to"),
    ("unknown source state",
     lambda d: d["transitions"][0].update({"from": ["open", "limbo"]}),
     "unknown_state", "transitions[0].from[1]"),
    ("unknown initial state", lambda d: d.update(initial="start"), "unknown_state", "initial"),
    ("unknown payment state", lambda d: d["payment"].update(state="billing"),
     "unknown_state", "payment.state"),
    ("unknown rating state", lambda d: d["rating"].update(states=["finished"]),
     "unknown_state", "rating.states[0]"),
    ("unreachable state", lambda d: _add_state(d, "orphan", terminal=True),
     "unreachable_state", "states[4]"),
    ("state that can never end",
     lambda d: (_add_state(d, "limbo"), _add_transition(d, "stall", ["doing"], "limbo")),
     "dead_end", "states[4]"),
    ("no terminal state",
     lambda d: d["states"][3].update(terminal=False, closed=False), "no_terminal", "states"),
    ("no closed state", lambda d: d["states"][3].update(closed=False),
     "no_closed_state", "states"),
    ("terminal state with an exit",
     lambda d: _add_transition(d, "reopen", ["done"], "open"),
     "terminal_has_exit", "transitions[3].from"),
    ("closed state that is not terminal", lambda d: d["states"][1].update(closed=True),
     "bad_value", "states[1].closed"),
    ("terminal initial state", lambda d: d["states"][0].update(terminal=True),
     "bad_value", "initial"),
    ("unknown role in a transition",
     lambda d: d["transitions"][0].update(roles=["janitor"]),
     "unknown_role", "transitions[0].roles[0]"),
    ("pseudo-role where only real roles fit", lambda d: d.update(report_roles=["reporter"]),
     "unknown_role", "report_roles[0]"),
    ("unknown dispatch team role",
     lambda d: d["dispatch"].update(team_roles=["assignee"]),
     "unknown_role", "dispatch.team_roles[0]"),
    ("unknown rater", lambda d: d["rating"].update(by=["customer"]),
     "unknown_role", "rating.by[0]"),
    ("required field not declared",
     lambda d: d["transitions"][1].update(required=["amount", "signature"]),
     "unknown_field", "transitions[1].required[1]"),
    ("optional field not declared",
     lambda d: d["transitions"][2].update(optional=["receipt"]),
     "unknown_field", "transitions[2].optional[0]"),
    ("built-in step field not enabled by records",
     lambda d: d["transitions"][1].update(required=["amount", "photos"]),
     "unknown_field", "transitions[1].required[1]"),
    ("payment field is not money",
     lambda d: d["payment"].update(field="description"), "unknown_field", "payment.field"),
    ("payment state entered without the amount",
     lambda d: d["transitions"][1].update(required=[]),
     "unknown_field", "transitions[1].required"),
    ("after names no such field",
     lambda d: d["fields"].append({"key": "due", "zh": "期限", "en": "Due", "type": "date",
                                   "after": "start"}),
     "unknown_field", "fields[3].after"),
    ("duplicate state", lambda d: _add_state(d, "doing"), "duplicate_key", "states[4].key"),
    ("duplicate transition", lambda d: _add_transition(d, "pay", ["paying"], "done"),
     "duplicate_key", "transitions[3].key"),
    ("duplicate field", lambda d: d["fields"].append(copy.deepcopy(d["fields"][0])),
     "duplicate_key", "fields[3].key"),
    ("duplicate category", lambda d: d["categories"].append(copy.deepcopy(d["categories"][0])),
     "duplicate_key", "categories[1].key"),
    ("duplicate enum value",
     lambda d: d["fields"][2]["values"].append({"key": "low", "zh": "低", "en": "Low"}),
     "duplicate_key", "fields[2].values[2].key"),
    ("field repeated in one step",
     lambda d: d["transitions"][1].update(optional=["amount"]),
     "duplicate_key", "transitions[1].optional[0]"),
    ("duration without unit", lambda d: d["sla"]["normal"].update(accept=30),
     "bad_duration", "sla.normal.accept"),
    ("duration in words", lambda d: d["sla"]["high"].update(close="4 hours"),
     "bad_duration", "sla.high.close"),
    ("zero duration", lambda d: d["sla"]["urgent"].update(accept="0m"),
     "bad_duration", "sla.urgent.accept"),
    ("accept longer than close", lambda d: d["sla"]["low"].update(accept="8d"),
     "bad_value", "sla.low.accept"),
    ("urgent slower than high", lambda d: d["sla"]["urgent"].update(close="2d"),
     "bad_value", "sla.urgent"),
    ("warning fraction out of range", lambda d: d["sla"].update(warn=1.5),
     "bad_value", "sla.warn"),
    ("missing priority", lambda d: d["sla"].pop("high"), "missing_key", "sla"),
    ("enum default not in values", lambda d: d["fields"][2].update(default="medium"),
     "bad_default", "fields[2].default"),
    ("money default with fractions of a cent",
     lambda d: d["fields"][1].update(default="1.005"), "bad_default", "fields[1].default"),
    ("unknown field type", lambda d: d["fields"][0].update(type="blob"),
     "bad_field_type", "fields[0].type"),
    ("reserved step field as a case field",
     lambda d: d["fields"].append({"key": "photos", "zh": "照片", "en": "Photos",
                                   "type": "photo_list"}),
     "reserved_key", "fields[3].key"),
    ("option for another type", lambda d: d["fields"][1].update(max_length=10),
     "bad_value", "fields[1].max_length"),
    ("bad regular expression",
     lambda d: d["fields"].append({"key": "code", "zh": "编码", "en": "Code",
                                   "type": "string", "pattern": "([a-z"}),
     "bad_value", "fields[3].pattern"),
    ("min above max",
     lambda d: d["fields"].append({"key": "n", "zh": "数", "en": "N", "type": "integer",
                                   "min": 5, "max": 1}),
     "bad_value", "fields[3].min"),
    ("enum without values", lambda d: d["fields"][2].pop("values") and None,
     "missing_key", "fields[2]"),
    ("bad key", lambda d: d["states"][1].update(key="Doing Now"),
     "bad_value", "states[1].key"),
    ("unknown family", lambda d: d.update(family="leisure"), "bad_value", "family"),
    ("unknown dispatch mode", lambda d: d["dispatch"].update(mode="lottery"),
     "bad_value", "dispatch.mode"),
    ("unknown record", lambda d: d["transitions"][1].update(records=["signature"]),
     "bad_value", "transitions[1].records[0]"),
    ("missing English label", lambda d: d["states"][2].pop("en"), "missing_key", "states[2]"),
    ("empty Chinese label", lambda d: d["transitions"][0].update(zh=" "),
     "bad_value", "transitions[0].zh"),
    ("unknown key (typo)", lambda d: d.update(colour="red"), "unknown_key", "colour"),
    ("unknown key in a state", lambda d: d["states"][0].update(final=True),
     "unknown_key", "states[0].final"),
    ("missing section", lambda d: d.pop("sla"), "missing_key", ""),
    ("assigning without dispatch", lambda d: d.pop("dispatch"),
     "missing_key", "transitions[0].assigns"),
    ("id differs from the file name", lambda d: d.update(id="other"), "id_mismatch", "id"),
    ("states is not a list", lambda d: d.update(states={"open": 1}), "bad_type", "states"),
]


@pytest.mark.parametrize(("mutate", "kind", "path"),
                         [pytest.param(m, k, p, id=name) for name, m, k, p in CASES])
def test_load_error_names_file_and_path(tmp_path: Path, mutate: Callable[[dict[str, Any]], None],
                                        kind: str, path: str) -> None:
    problems = _problems(tmp_path, mutate)
    assert _found(problems, kind, path), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    def mutate(doc: dict[str, Any]) -> None:
        doc["transitions"][1]["to"] = "nowhere"
        doc["transitions"][0]["roles"] = ["janitor"]
        doc["sla"]["normal"]["accept"] = "soon"

    problems = _problems(tmp_path, mutate)
    kinds = {p.kind for p in problems}
    assert {"unknown_state", "unknown_role", "bad_duration"} <= kinds


def test_message_names_file_and_path(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["transitions"][1]["to"] = "nowhere"
    path = _write(tmp_path, doc)
    with pytest.raises(CaseTypeError) as info:
        load_case_type_file(path)
    assert f"{path}: transitions[1].to: unknown state 'nowhere'" in str(info.value)


def test_a_key_written_twice_in_yaml_is_refused(tmp_path: Path) -> None:
    text = yaml.safe_dump(BASE, allow_unicode=True, sort_keys=False)
    text = text.replace("initial: open\n", "initial: open\ninitial: doing\n")
    path = tmp_path / "sample.yaml"
    path.write_text(text, "utf-8")
    line = text.splitlines().index("initial: doing") + 1
    with pytest.raises(CaseTypeError) as info:
        load_case_type_file(path)
    assert info.value.problems[0][1:3] == (f"line {line}", "duplicate_key")


def test_invalid_yaml_and_non_mapping_documents(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [unclosed\n", "utf-8")
    with pytest.raises(CaseTypeError) as info:
        load_case_type_file(broken)
    assert info.value.kinds == {"yaml"}
    listed = _write(tmp_path, ["not", "a", "mapping"], "listed.yaml")
    with pytest.raises(CaseTypeError) as info:
        load_case_type_file(listed)
    assert info.value.problems[0][1:3] == ("", "bad_type")


def test_a_bad_dropped_in_file_fails_the_whole_load(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["transitions"][0]["roles"] = ["janitor"]
    path = _write(tmp_path, doc)
    with pytest.raises(CaseTypeError) as info:
        load_case_types([tmp_path])
    assert [(p.file, p.path, p.kind) for p in info.value.problems] == [
        (str(path), "transitions[0].roles[0]", "unknown_role")]


def test_roles_can_be_extended_for_custom_deployments(tmp_path: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["transitions"][0]["roles"] = ["janitor"]
    path = _write(tmp_path, doc)
    case_type = load_case_type_file(path, roles={"janitor", "resident", "property_manager"})
    assert case_type.transition_map["take"].roles == ("janitor",)
