"""The files that record a running local stack in its home folder.

- `stack.json`: which stack runs (`tansu+lancedb` | `kafka+weaviate`) and, per service, its pid
  (= process group), program, ports and log. Ports stay recorded after a service stops, so it
  comes back on the same ports and clients reconnect.
- `stack.env`: the `FRESHINDEX_*` variables pointing freshindex at the stack; `Settings.load()`
  reads it (real environment variables win).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("freshindex.infra")

STATE_FILE = "stack.json"
ENV_FILE = "stack.env"


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """One service as recorded in stack.json."""

    name: str
    pid: int
    """Process id and process-group id; 0 once stopped (its ports stay recorded)."""
    binary: str
    """Program name the pid must still run (guards against pid reuse)."""
    ports: dict[str, int]
    log: Path

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "binary": self.binary, "ports": self.ports, "log": str(self.log)}


@dataclass(kw_only=True)
class State:
    """Contents of stack.json."""

    stack: str = ""
    services: dict[str, Recorded] = field(default_factory=dict)


def read_state(home: Path) -> State:
    try:
        raw = json.loads((home / STATE_FILE).read_text())
    except FileNotFoundError:
        return State()
    except (OSError, ValueError) as e:
        log.warning("ignoring unreadable %s: %s", home / STATE_FILE, e)
        return State()
    try:
        services = {
            name: Recorded(
                name=name,
                pid=int(entry.get("pid", 0)),
                binary=str(entry.get("binary", "")),
                ports={k: int(v) for k, v in dict(entry.get("ports", {})).items()},
                log=Path(str(entry.get("log", home / "logs" / f"{name}.log"))),
            )
            for name, entry in dict(raw.get("services", {})).items()
        }
        return State(stack=str(raw.get("stack", "")), services=services)
    except (AttributeError, TypeError, ValueError) as e:
        log.warning("ignoring malformed %s: %s", home / STATE_FILE, e)
        return State()


def write_state(home: Path, state: State) -> None:
    body = {
        "stack": state.stack,
        "services": {name: r.as_json() for name, r in state.services.items()},
    }
    (home / STATE_FILE).write_text(json.dumps(body, indent=2) + "\n")


def write_env(home: Path, env: dict[str, str]) -> None:
    (home / ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in env.items()))


def remove_state(home: Path) -> None:
    for file_name in (STATE_FILE, ENV_FILE):
        (home / file_name).unlink(missing_ok=True)
