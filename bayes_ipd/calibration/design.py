"""A calibration study: the ``[design]`` of simulated meta-analyses, priors, sampler, seed.

TOML layout (``bayes-ipd calibrate SPEC.toml``)::

    [design]
    family = "binomial"          # gaussian | binomial | survival | poisson
    trials = 5                   # >= 2
    participants = 200           # per trial (an integer, or a list, one per trial)
    control_risk = 0.2           # binomial: control-arm risk (centre of the intercepts);
                                 # survival: control-arm risk of an event by the end of
                                 # follow-up (time 1; exponential times, constant hazard)
    # control_rate = 1.5         # poisson: mean count per control participant
    intercept_sd = 0.5           # optional: between-trial SD of the intercepts
    # outcome_sd = 10.0          # gaussian: residual SD of the outcome
    seed = 20240601              # the study seed
    sbc_draws = 99               # thinned posterior draws ranked per replicate
    rank_bins = 20               # bins of the chi-square uniformity test
    parameterisation = "auto"    # | "centred" | "noncentred"

    [priors]                     # as in an analysis spec; the truths are drawn from them
    tau = "half_normal(0.5)"

    [sampler]                    # as in an analysis spec
    draws = 500
    tune = 500
    chains = 2

The calibrated model is the one-stage model with stratified trial intercepts and a random
treatment effect. So that the simulated trials look like the design *and* the truths are
draws from the model's own prior (the premise of SBC), the intercept prior defaults to
``normal(logit(control_risk), intercept_sd)`` (binomial), ``normal(log(-log(1 -
control_risk)), intercept_sd)`` (survival: the log of the constant control hazard that gives
that risk by time 1), ``normal(log(control_rate), intercept_sd)`` (poisson) or ``normal(0,
intercept_sd * outcome_sd)`` (gaussian), and the gaussian residual SD prior to
``log_normal(log(outcome_sd), 0.1)``; every other slot takes the family default computed with
``outcome_sd`` (never from simulated data, which would make the prior data-dependent).
``[priors]`` overrides any slot.

The survival model is fitted with one interval (``intervals = 1``, a constant baseline
hazard per trial), the model the times are simulated from: event-time quantile cut points
would be chosen from the simulated data, and a prior that depends on the data breaks SBC.
"""

from __future__ import annotations

import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bayes_ipd.errors import SpecError
from bayes_ipd.priors import PriorSet, as_prior, resolve_priors
from bayes_ipd.spec import ModelSpec, SamplerSettings

__all__ = [
    "CALIBRATION_FAMILIES",
    "CalibrationStudy",
    "read_calibration_spec",
    "resolve_calibration_spec",
    "shipped_calibration_specs",
]

CALIBRATION_FAMILIES = ("gaussian", "binomial", "survival", "poisson")
DESIGN_KEYS = (
    "family",
    "trials",
    "participants",
    "control_risk",
    "control_rate",
    "outcome_sd",
    "intercept_sd",
    "seed",
    "sbc_draws",
    "rank_bins",
    "parameterisation",
)
SECTIONS = ("design", "priors", "sampler")

#: The design value that sets the scale of each family's simulated trials (and its bound).
SCALE_KEYS: dict[str, tuple[str, float | None]] = {
    "binomial": ("control_risk", 1.0),
    "gaussian": ("outcome_sd", None),
    "survival": ("control_risk", 1.0),
    "poisson": ("control_rate", None),
}

#: ``ModelSpec`` options of the calibrated model, by family (module docstring).
MODEL_OPTIONS: dict[str, dict[str, Any]] = {"survival": {"intervals": 1}}


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SpecError(f"design.{name} = {value!r} must be an integer >= {minimum}")
    return int(value)


def _positive(name: str, value: Any, upper: float | None = None) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value <= 0 or (upper is not None and value >= upper):
        bound = f" and < {upper}" if upper is not None else ""
        raise SpecError(f"design.{name} = {value!r} must be a number > 0{bound}")
    return float(value)


@dataclass(frozen=True)
class CalibrationStudy:
    """Everything a replicate needs (picklable: it is sent to every Dask worker).

    Attributes
    ----------
    family : {"gaussian", "binomial", "survival", "poisson"}
    trials : int
        Trials per simulated meta-analysis (>= 2).
    participants : tuple of int
        Participants per trial (allocated 1:1).
    control_risk : float or None
        Binomial control-arm risk; survival: control-arm risk of an event by time 1.
    control_rate : float or None
        Poisson: mean count per control participant.
    outcome_sd : float or None
        Gaussian residual SD.
    intercept_sd : float
        Between-trial SD of the intercepts (logit scale, or in outcome SDs).
    priors : Mapping[str, str]
        The user's ``[priors]``.
    sampler : SamplerSettings
    seed : int
        The study seed; replicate ``i`` uses ``SeedSequence([seed, i])``.
    sbc_draws : int
        Thinned posterior draws ranked per replicate (ranks 0..sbc_draws).
    rank_bins : int
        Bins of the chi-square uniformity test.
    parameterisation : {"auto", "centred", "noncentred"}
        Of the model's random treatment effect (``"auto"``, the default rule, may build two
        model structures; each is compiled once per worker).
    """

    family: str
    trials: int
    participants: tuple[int, ...]
    control_risk: float | None = None
    control_rate: float | None = None
    outcome_sd: float | None = None
    intercept_sd: float = 0.5
    priors: Mapping[str, str] = field(default_factory=dict)
    sampler: SamplerSettings = field(
        default_factory=lambda: SamplerSettings(draws=500, tune=500, chains=2, progress=False)
    )
    seed: int = 20240601
    sbc_draws: int = 99
    rank_bins: int = 20
    parameterisation: str = "auto"

    def __post_init__(self) -> None:
        if self.family not in CALIBRATION_FAMILIES:
            raise SpecError(
                f"design.family = {self.family!r}: calibration supports "
                f"{', '.join(map(repr, CALIBRATION_FAMILIES))}"
            )
        if isinstance(self.trials, numbers.Integral) and not isinstance(self.trials, bool):
            if self.trials < 2:
                raise SpecError(
                    f"design.trials = {self.trials}: a meta-analysis needs at least two trials"
                )
        trials = _integer("trials", self.trials, 2)
        sizes = self.participants
        sizes = (sizes,) * trials if isinstance(sizes, numbers.Integral) else tuple(sizes)
        if len(sizes) != trials:
            raise SpecError(f"design.participants: {len(sizes)} sizes for {trials} trials")
        object.__setattr__(
            self, "participants", tuple(_integer("participants", n, 4) for n in sizes)
        )
        key, upper = SCALE_KEYS[self.family]
        if getattr(self, key) is None:
            raise SpecError(f"design.{key} is required for family {self.family!r}")
        object.__setattr__(self, key, _positive(key, getattr(self, key), upper))
        object.__setattr__(self, "intercept_sd", _positive("intercept_sd", self.intercept_sd))
        object.__setattr__(self, "sbc_draws", _integer("sbc_draws", self.sbc_draws, 9))
        object.__setattr__(self, "rank_bins", _integer("rank_bins", self.rank_bins, 2))
        if (self.sbc_draws + 1) % self.rank_bins:
            raise SpecError(
                f"design.rank_bins = {self.rank_bins} must divide sbc_draws + 1 = "
                f"{self.sbc_draws + 1} (equal-width rank bins)"
            )
        object.__setattr__(self, "trials", trials)
        object.__setattr__(self, "seed", _integer("seed", self.seed, 0))
        if self.parameterisation not in ("auto", "centred", "noncentred"):
            raise SpecError(
                f"design.parameterisation = {self.parameterisation!r}: choose "
                "'auto', 'centred' or 'noncentred'"
            )
        self.prior_set()  # validate the priors now

    def prior_set(self) -> PriorSet:
        """The model's priors (the truths are drawn from them; module docstring).

        Resolved once per study object (every replicate asks for them)."""
        cached = self.__dict__.get("_prior_set")
        if cached is None:
            user = {slot: as_prior(text) for slot, text in self.priors.items()}
            given = dict(self._design_priors())
            given.update(user)
            cached = resolve_priors(
                self.family, given, outcome_sd=self.outcome_sd or 1.0, outcome_mean=0.0
            )
            self.__dict__["_prior_set"] = cached  # a frozen value's memo, not a field
        return cached

    def model_spec(self) -> ModelSpec:
        """The calibrated one-stage model (stratified intercepts, random treatment effect)."""
        return ModelSpec(
            self.family,
            parameterisation=self.parameterisation,
            **MODEL_OPTIONS.get(self.family, {}),
        )

    def _design_priors(self) -> dict[str, str]:
        return _DESIGN_PRIORS[self.family](self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {
            "family": self.family,
            "trials": self.trials,
            "participants": list(self.participants),
            "control_risk": self.control_risk,
            "control_rate": self.control_rate,
            "outcome_sd": self.outcome_sd,
            "intercept_sd": self.intercept_sd,
            "priors": self.prior_set().to_dict(),
            "sampler": self.sampler.to_dict(),
            "seed": self.seed,
            "sbc_draws": self.sbc_draws,
            "rank_bins": self.rank_bins,
            "parameterisation": self.parameterisation,
        }


def _binomial_priors(study: CalibrationStudy) -> dict[str, str]:
    centre = math.log(study.control_risk / (1 - study.control_risk))
    return {"intercept": f"normal({centre:.6g}, {study.intercept_sd:.6g})"}


def _gaussian_priors(study: CalibrationStudy) -> dict[str, str]:
    sd = study.outcome_sd
    return {
        "intercept": f"normal(0, {study.intercept_sd * sd:.6g})",
        "sigma": f"log_normal({math.log(sd):.6g}, 0.1)",
    }


def _survival_priors(study: CalibrationStudy) -> dict[str, str]:
    centre = math.log(-math.log1p(-study.control_risk))
    return {"intercept": f"normal({centre:.6g}, {study.intercept_sd:.6g})"}


def _poisson_priors(study: CalibrationStudy) -> dict[str, str]:
    centre = math.log(study.control_rate)
    return {"intercept": f"normal({centre:.6g}, {study.intercept_sd:.6g})"}


_DESIGN_PRIORS = {
    "binomial": _binomial_priors,
    "gaussian": _gaussian_priors,
    "survival": _survival_priors,
    "poisson": _poisson_priors,
}


def study_from_document(doc: Mapping[str, Any], where: str = "") -> CalibrationStudy:
    """A :class:`CalibrationStudy` from a parsed TOML document."""
    for section in doc:
        if section not in SECTIONS:
            raise SpecError(f"{where}unknown section [{section}]; sections: {', '.join(SECTIONS)}")
    design = dict(doc.get("design") or {})
    if not design:
        raise SpecError(f"{where}the [design] section is required")
    for key in design:
        if key not in DESIGN_KEYS:
            raise SpecError(f"{where}unknown key design.{key}; allowed: {', '.join(DESIGN_KEYS)}")
    for key in ("family", "trials", "participants"):
        if key not in design:
            raise SpecError(f"{where}design.{key} is required")
    priors = dict(doc.get("priors") or {})
    sampler = {"draws": 500, "tune": 500, "chains": 2, **dict(doc.get("sampler") or {})}
    sampler["progress"] = False
    return CalibrationStudy(**design, priors=priors, sampler=SamplerSettings.from_dict(sampler))


def shipped_calibration_specs() -> dict[str, Path]:
    """The calibration specs shipped in ``bayes_ipd/models/calibration/``, by name."""
    from importlib import resources

    folder = resources.files("bayes_ipd.models") / "calibration"
    if not folder.is_dir():
        return {}
    paths = sorted(Path(str(e)) for e in folder.iterdir() if e.name.endswith(".toml"))
    return {path.stem: path for path in paths}


def resolve_calibration_spec(given: str | Path) -> Path:
    """The file ``given`` names: an existing file, else a shipped calibration spec of that
    name (``calibration_binomial``, with or without ``.toml``)."""
    path = Path(given)
    if path.is_file():
        return path
    name = path.name[: -len(".toml")] if path.name.endswith(".toml") else path.name
    shipped = shipped_calibration_specs()
    if path.parent == Path(".") and name in shipped:
        return shipped[name]
    raise SpecError(
        f"calibration spec file not found: {given} (shipped calibration specs, runnable "
        f"by name: {', '.join(shipped) or 'none'})"
    )


def read_calibration_spec(path: str | Path) -> CalibrationStudy:
    """Read a calibration spec (TOML with ``[design]``, ``[priors]``, ``[sampler]``): a
    file, or the name of a shipped one (``"calibration_binomial"``).

    Raises
    ------
    SpecError
        Missing file, bad TOML, unknown section or key, a missing or invalid design value
        (e.g. fewer than two trials), naming the file and ``design.<key>``.
    """
    path = resolve_calibration_spec(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: invalid TOML: {err}") from None
    try:
        return study_from_document(doc)
    except (SpecError, ValueError) as err:
        raise SpecError(f"{path}: {err}") from None
