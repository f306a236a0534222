"""Trial parameters: every threshold and window, loaded from one YAML file (defaults in params.yaml)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

REELEVATION_RULES = ("fraction-of-baseline", "rise-vs-baseline", "ratio-vs-nadir")


class ParamsError(ValueError):
    """The parameter file is missing, malformed, or holds an unknown key or a bad value."""


@dataclass(frozen=True, slots=True)
class Params:
    trial: str
    trial_identifiers: tuple[str, ...]
    trial_url: str
    age_min: int
    age_max: int
    baseline_igg4_min_mg_l: Decimal
    igg4_lookback_days: int
    reelevation_rule: str
    reelevation_fraction: Decimal
    reelevation_ratio: Decimal
    therapy_groups: tuple[str, ...]
    responder_index_lookback_days: int
    responder_index_max_score: int
    malignancy_lookback_years: int
    cervical_cis_resolved_months: int
    prostate_treatment_years: int
    pregnancy_status_lookback_days: int
    pregnancy_max_days: int
    hcg_lookback_days: int
    hcg_positive_miu_ml: Decimal
    hcg_negative_miu_ml: Decimal
    lab_lookback_days: int
    hemoglobin_min_g_dl: Decimal
    neutrophils_min_10e9_l: Decimal
    platelets_min_10e9_l: Decimal
    uln_multiple: Decimal
    uln_alt_u_l: Decimal
    uln_ast_u_l: Decimal
    uln_tbil_umol_l: Decimal
    egfr_min: Decimal

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if isinstance(value, Decimal):
                out[key] = int(value) if value == value.to_integral_value() else float(value)
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        return out

    def replace(self, **changes: Any) -> Params:
        raw = {**self.to_dict(), **changes}
        return _coerce(raw)


def _coerce(raw: dict[str, Any]) -> Params:
    known = {f.name: f for f in fields(Params)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ParamsError(f"unknown parameter(s): {', '.join(unknown)}")
    missing = sorted(set(known) - set(raw))
    if missing:
        raise ParamsError(f"missing parameter(s): {', '.join(missing)}")
    values: dict[str, Any] = {}
    for name, f in known.items():
        value = raw[name]
        kind = str(f.type)
        try:
            if kind == "Decimal":
                if isinstance(value, bool):
                    raise TypeError
                values[name] = Decimal(str(value))
            elif kind == "int":
                if isinstance(value, bool) or int(value) != value:
                    raise TypeError
                values[name] = int(value)
            elif kind.startswith("tuple"):
                if not isinstance(value, list | tuple):
                    raise TypeError
                values[name] = tuple(str(v) for v in value)
            else:
                values[name] = str(value)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise ParamsError(f"parameter {name}: bad value {value!r}") from exc
    if values["reelevation_rule"] not in REELEVATION_RULES:
        raise ParamsError(
            f"parameter reelevation_rule: {values['reelevation_rule']!r} is not one of "
            + ", ".join(REELEVATION_RULES)
        )
    return Params(**values)


def _defaults() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("params.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def load_params(path: str | Path | None = None) -> Params:
    """Defaults overlaid with a site's file (``path``, else env ``IGG4_CDS_PARAMS``, else none)."""
    raw = _defaults()
    chosen = path if path is not None else os.environ.get("IGG4_CDS_PARAMS")
    if chosen:
        try:
            with open(chosen, encoding="utf-8") as fh:
                site = yaml.safe_load(fh)
        except OSError as exc:
            raise ParamsError(f"cannot read parameter file {chosen}: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ParamsError(f"parameter file {chosen} is not valid YAML") from exc
        if site is None:
            site = {}
        if not isinstance(site, dict):
            raise ParamsError(f"parameter file {chosen} must hold a mapping of names to values")
        raw.update(site)
    return _coerce(raw)
