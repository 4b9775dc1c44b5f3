"""A deployment-defined device type used by several tests (a noise probe)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# A small but complete device type, as a deployment would drop it into a directory.
NOISE_TYPE: dict[str, Any] = {
    "id": "noise_probe",
    "name": {"zh": "噪声探头", "en": "Noise probe"},
    "category": {"group": "infrastructure", "row": "T1.sanitation"},
    "table2": ["T2.iot.env.other"],
    "heartbeat_timeout_s": 600,
    "metrics": [
        {"key": "noise", "name": {"zh": "噪声", "en": "Noise"}, "kind": "number",
         "unit": "dB(A)", "range": [0, 140], "alarm_hint": {"warn_above": 55, "alarm_above": 70}},
        {"key": "mode", "name": {"zh": "模式", "en": "Mode"}, "kind": "enum",
         "values": ["day", "night"]},
    ],
    "state": [
        {"key": "sampling", "name": {"zh": "采样", "en": "Sampling"}, "kind": "boolean",
         "writable": True},
    ],
    "events": [
        {"key": "too_loud", "name": {"zh": "噪声超标", "en": "Too loud"}, "severity": "warning",
         "fields": [{"key": "level", "name": {"zh": "声级", "en": "Level"}, "kind": "number",
                     "unit": "dB(A)", "range": [0, 140], "required": True}]},
    ],
    "commands": [
        {"key": "start", "name": {"zh": "开始", "en": "Start"}, "ack_timeout_s": 5,
         "sets": {"sampling": True}},
    ],
    "indicators": [
        {"key": "accuracy_db", "name": {"zh": "准确度", "en": "Accuracy"}, "unit": "dB",
         "comparator": "abs_le", "threshold": 1.5},
    ],
    "fiware": {
        "NoiseLevelObserved": {"timestamp": ["dateObserved"],
                               "attributes": {"LAeq": "noise"}},
    },
}


def write_type(directory: Path, data: dict[str, Any], name: str | None = None) -> Path:
    path = directory / f"{name or data['id']}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
