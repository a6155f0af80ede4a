"""Bridge files: a successor judge's figures mapped onto AlpacaEval 2.0's scale, as numbers and identities.

A bridge (`scoring.bridge` fits and applies it) reads only the successor it was fitted for: its instrument
(judge name and protocol hash) is in the file and checked, and a file edited after fitting is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpaca_lc.errors import InputError, UsageError
from alpaca_lc.records.instrument import Instrument, known_protocols
from alpaca_lc.records.jsonio import read_json_document, write_json
from alpaca_lc.stats.bridge import MapFit

FORMAT = "alpaca-lc-bridge-v1"
REFERENCE = "weighted_alpaca_eval_gpt4_turbo"
RETIRED_MODEL = "gpt-4-1106-preview"
RETIRED_ON = "2026-03-26"


def reference_instrument() -> Instrument:
    """AlpacaEval 2.0's judge: the instrument every published AlpacaEval 2.0 number is on."""
    return Instrument(REFERENCE, known_protocols().get(REFERENCE))


@dataclass(frozen=True)
class PanelModel:
    """One panel model: the successor's figures (percent) and the official ones; `used` is False when it was
    flagged as disagreeing wildly and left out of the fit."""

    model: str
    lc: float
    lc_se: float
    win_rate: float
    win_rate_se: float
    avg_length: float
    official_lc: float
    official_win_rate: float
    used: bool = True


@dataclass(frozen=True)
class Bridge:
    """A fitted bridge: whose figures it reads, what it maps them to, the panel and the two maps."""

    successor: Instrument
    reference: Instrument
    panel: tuple[PanelModel, ...]
    lc_map: MapFit
    raw_map: MapFit
    loo: Mapping[str, Mapping[str, float]]  # target -> map -> mean |error| left one model out, points
    spec: str
    calibration: str

    def document(self) -> dict[str, Any]:
        """The file's content (without its identity)."""
        return {
            "format": FORMAT,
            "successor": {"judge": self.successor.judge, "protocol": self.successor.protocol},
            "reference": {"judge": self.reference.judge, "protocol": self.reference.protocol},
            "lc_spec": self.spec, "calibration": self.calibration,
            "maps": {"length_controlled_winrate": dataclasses.asdict(self.lc_map),
                     "win_rate": dataclasses.asdict(self.raw_map)},
            "leave_one_model_out_mean_abs_error": {k: dict(v) for k, v in self.loo.items()},
            "panel": [dataclasses.asdict(p) for p in self.panel],
        }  # fmt: skip

    @property
    def identity(self) -> str:
        """A short hash of the file's content: rows name the bridge that made them."""
        canonical = json.dumps(self.document(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def flagged(self) -> list[str]:
        """Panel models left out of the fit for disagreeing wildly."""
        return [p.model for p in self.panel if not p.used]

    def label(self) -> str:
        """What a bridged row's `judge` says."""
        return f"{self.reference.judge} (bridged from {self.successor.judge} by bridge {self.identity})"


def write_bridge(path: Path, bridge: Bridge) -> None:
    """Write the bridge file (numbers and identities only)."""
    write_json(path, {**bridge.document(), "identity": bridge.identity})


def read_bridge(path: Path) -> Bridge:
    """Read a bridge file; anything else is one InputError naming it.

    Args:
        path: a file written by `bridge fit`.
    """
    data = read_json_document(path, "a bridge file", "no such bridge file")
    try:
        if data["format"] != FORMAT:
            raise InputError(f"not a bridge file of format {FORMAT} (found {data['format']!r})", path=path)
        maps = data["maps"]
        bridge = Bridge(
            Instrument(data["successor"]["judge"], data["successor"]["protocol"]),
            Instrument(data["reference"]["judge"], data["reference"]["protocol"]),
            tuple(PanelModel(**p) for p in data["panel"]),
            _map(maps["length_controlled_winrate"]), _map(maps["win_rate"]),
            data["leave_one_model_out_mean_abs_error"], str(data["lc_spec"]), str(data["calibration"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"not a bridge file: {type(exc).__name__} {exc}", path=path) from None
    if data.get("identity") != bridge.identity:
        raise InputError("the bridge file was changed after it was fitted (its identity does not match)", path=path)
    return bridge


def _map(data: dict[str, Any]) -> MapFit:
    return MapFit(str(data["kind"]), tuple(float(c) for c in data["coef"]),
                  tuple(tuple(float(v) for v in row) for row in data["xtx_inv"]), float(data["residual_sd"]),
                  int(data["dof"]), float(data["panel_var"]))  # fmt: skip


def check_successor(instruments: Iterable[tuple[str, Instrument]], bridge: Bridge) -> None:
    """Refuse (one line) results of another judge than the bridge's successor."""
    for label, inst in instruments:
        if not inst.same_as(bridge.successor) or inst.judge is None:
            raise UsageError(f"the bridge reads {bridge.successor}, but {label} was judged by {inst}: a bridge "
                             "applies only to the successor judge it was fitted for")  # fmt: skip


@dataclass(frozen=True)
class BundledPanel:
    """A panel shipped with alpaca-lc: models whose outputs are public, with their official figures."""

    name: str
    description: str
    outputs: str
    official: Any  # a DataFrame indexed by model: length_controlled_winrate, win_rate, avg_length


def bundled_panels() -> list[str]:
    """The names of the panels shipped with alpaca-lc."""
    from alpaca_lc import package_file

    return sorted(p.stem.removeprefix("bridge_panel_") for p in package_file("data").glob("bridge_panel_*.json"))


def load_panel(name: str) -> BundledPanel:
    """A bundled panel by name (`alpaca_eval_2`), or a panel file of the same format."""
    from alpaca_lc import package_file

    if name.endswith(".json"):
        path = Path(name)
    elif (path := package_file("data", f"bridge_panel_{name}.json")).is_file():
        pass
    else:
        raise InputError(f"no such panel {name!r} (bundled: {', '.join(bundled_panels())}; or a panel file, *.json)")
    data = read_json_document(path, "a panel file", "no such panel file")
    import pandas as pd

    try:
        official = pd.DataFrame(data["models"]).set_index("model")
        return BundledPanel(str(data["name"]), str(data["description"]), str(data["outputs"]), official)
    except (KeyError, TypeError) as exc:
        raise InputError(f"not a panel file: {exc}", path=path) from None
