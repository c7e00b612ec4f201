"""The one-stage Bayesian MMRM on exact pattern statistics: a PyMC model and its draws.

For trial ``k``, arm ``t`` (0/1) and visit ``v``, a participant's outcome vector over the
visits attended ``O`` is ``y ~ N((mu_k + t theta_k + beta x)_O, (Sigma_k)_{O,O})``:

* ``mu`` [study, visit] — trial-specific visit means of the control arm at the trial's mean
  covariates (stratified: free per trial and visit; ``normal(outcome mean, 10 SD)``);
* ``theta`` [study, visit] — each trial's treatment effect per visit,
  ``theta_k = effect + u_k``, ``u_k ~ MVN(0, diag(tau) R diag(tau))``, ``R ~ LKJ(eta)``
  (``effect_time="visit"``, the default); or a treatment-by-time line
  (``effect_time="slope"``): ``theta_kv = (a + u_k0) + (b + u_k1) s_v`` with ``s_v`` the
  visit times centred (named visits: their positions), ``(u_k0, u_k1) ~ MVN(0, diag(tau_line)
  R diag(tau_line))``; written non-centred;
* ``effect`` [visit], ``tau`` [visit] — the pooled effect per visit and its between-trial SD
  (slope: derived from ``effect_line``, ``tau_line`` and ``tau_line_corr``);
* ``beta`` [visit, covariate] — baseline covariate effects by visit (common to trials);
* with ``interactions`` (each also a covariate), ``gamma_within`` [interaction] and
  ``gamma_across`` [interaction] — the treatment-covariate interaction at the primary visit
  ``P`` split as the one-stage model of :mod:`~bayes_ipd.one_stage.builder` does (the
  "deft" approach, Fisher et al. 2017): a treated participant's mean at ``P`` adds
  ``gamma_within'(z - zbar_k)`` (within-trial, ``zbar_k`` the trial's participant mean),
  and the trial's effect at ``P`` is ``theta_kP = effect_P + gamma_across'(zbar_k - zbar)
  + u_kP`` (across-trial, ``zbar`` the mean of the trials' means), so ``effect_P`` is the
  effect at the average trial's mean covariates and ``theta`` the trials' effects at their
  own means; normal priors, SD ``interaction_sd`` (default 2.5 outcome SDs) per covariate SD;
* ``sigma`` [study, visit] and the residual correlation ``R_k ~ LKJ(eta)`` per trial
  (``residual="trial"``), or one ``sigma`` [visit] and ``R`` shared by all trials
  (``residual="common"``).

LKJ priors are written through canonical partial correlations (CPCs) of the C-vine, which
under ``LKJ(eta)`` are independent, ``(z + 1) / 2 ~ Beta(b_j, b_j)`` with
``b_j = eta + (d - 2 - j) / 2`` for column ``j`` (Lewandowski, Kurowicka & Joe 2009, sec.
3.2); the Cholesky factor follows Stan's ``cholesky_corr_constrain``. Batched over trials,
and free of PyTensor's batched linear algebra: the Cholesky factor of each pattern's
covariance (padded to all visits with ones where a visit is missing, so that its
determinant and quadratic form are those of the observed block) is written out entry by
entry, vectorised over the groups of :mod:`~bayes_ipd.one_stage.repeated_summaries`.

Every prior number and all statistics are data containers: a new data set of the same
number of visits and covariates is the same compiled program
(:mod:`~bayes_ipd.one_stage.cache`), sampled by :func:`~bayes_ipd.one_stage.sampling.sample`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_ipd.errors import IPDDataError, SpecError
from bayes_ipd.one_stage.repeated_summaries import RepeatedSummaries, constant_within_trials

__all__ = [
    "EFFECT_TIMES",
    "RESIDUALS",
    "RepeatedBuilt",
    "RepeatedOptions",
    "build_repeated_model",
    "check_interactions",
    "corr_cholesky",
    "pattern_loglik",
    "visit_times",
]

EFFECT_TIMES = ("visit", "slope")
RESIDUALS = ("trial", "common")
LOG_2PI = float(np.log(2.0 * np.pi))


@dataclass(frozen=True)
class RepeatedOptions:
    """Options of the one-stage MMRM (module docstring).

    Parameters
    ----------
    effect_time : {"visit", "slope"}
        A treatment effect per visit (LKJ-correlated across visits), or a line in time.
    residual : {"trial", "common"}
        Residual covariance unstructured per trial, or one shared by all trials.
    eta : float
        LKJ shape of every correlation prior (1: uniform; 2: mild shrinkage to 0).
    primary_visit : str, optional
        The visit reported as ``effect`` (default: the last).
    tau_scale, sigma_scale : float, optional
        Half-normal scales of ``tau`` and ``sigma``; default 1 and 5 outcome SDs.
    effect_sd, intercept_sd : float, optional
        Normal SDs of the pooled effects and of the visit means; default 10 outcome SDs.
    coefficient_sd : float, optional
        Normal SD of ``beta`` per covariate SD; default 2.5 outcome SDs.
    interactions : tuple of str
        Covariates (each also among the covariates) interacting with treatment at the
        primary visit, split into within- and across-trial parts.
    interaction_sd : float, optional
        Normal SD of ``gamma_within`` and ``gamma_across`` per covariate SD; default 2.5
        outcome SDs.
    """

    effect_time: str = "visit"
    residual: str = "trial"
    eta: float = 2.0
    primary_visit: str | None = None
    tau_scale: float | None = None
    sigma_scale: float | None = None
    effect_sd: float | None = None
    intercept_sd: float | None = None
    coefficient_sd: float | None = None
    interactions: tuple[str, ...] = ()
    interaction_sd: float | None = None

    def __post_init__(self) -> None:
        for name, allowed in (("effect_time", EFFECT_TIMES), ("residual", RESIDUALS)):
            if getattr(self, name) not in allowed:
                raise SpecError(
                    f"{name} = {getattr(self, name)!r}: choose one of {', '.join(allowed)}"
                )
        numbers = ("eta", "tau_scale", "sigma_scale", "effect_sd", "intercept_sd")
        for name in (*numbers, "coefficient_sd", "interaction_sd"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value > 0):
                raise SpecError(f"{name} = {value!r} must be a positive number")
        object.__setattr__(self, "interactions", _names(self.interactions))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values (the interaction fields only when used, so a model without
        interactions reports what it always did)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("interactions", "interaction_sd"):
            if not out[name]:
                del out[name]
        if "interactions" in out:
            out["interactions"] = list(out["interactions"])
        return out


def _names(value: Any) -> tuple[str, ...]:
    """A covariate name or names as a tuple of distinct strings."""
    names = (value,) if isinstance(value, str) else tuple(value)
    if not all(isinstance(n, str) and n for n in names):
        raise SpecError(f"interactions = {value!r}: give covariate names")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise SpecError(f"interactions: {', '.join(repeated)} given twice")
    return names


@dataclass(frozen=True)
class RepeatedBuilt:
    """A built MMRM: the PyMC model, its statistics and options.

    ``sample`` of :mod:`~bayes_ipd.one_stage.sampling` reads ``model`` and
    ``parameterisation`` only, so the package's sampler and compiled-model cache apply.
    """

    model: pm.Model
    summaries: RepeatedSummaries
    options: RepeatedOptions
    primary: int
    priors: Mapping[str, tuple[float, ...]]
    # empty: the treatment effects are always non-centred, so the sampler's divergence
    # advice suggests no other form (there is no option to switch)
    parameterisation: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


# ------------------------------------------------------------- linear algebra, unrolled


def corr_cholesky(cpc: Any, d: int) -> Any:
    """(..., d, d) Cholesky factor of a correlation matrix from its C-vine CPCs
    (..., d(d-1)/2), pairs ``(i, j), j < i`` in row-major order (Stan's construction)."""
    ones = pt.ones_like(cpc[..., 0]) if d > 1 else None
    rows: list[list[Any]] = []
    idx = 0
    for i in range(d):
        row: list[Any] = []
        ss: Any = 0.0
        for j in range(i):
            z = cpc[..., idx]
            idx += 1
            value = z if j == 0 else z * pt.sqrt(1.0 - ss)
            row.append(value)
            ss = ss + value**2
        row.append(pt.sqrt(1.0 - ss) if i else (ones if ones is not None else pt.ones(())))
        rows.append(row)
    zero = pt.zeros_like(rows[0][0])
    full = [[rows[i][j] if j <= i else zero for j in range(d)] for i in range(d)]
    return pt.stack([pt.stack(r, axis=-1) for r in full], axis=-2)


def cpc_beta_parameters(d: int, eta: Any) -> Any:
    """Beta parameter of each CPC, pairs in the order of :func:`corr_cholesky`."""
    columns = np.array([j for i in range(d) for j in range(i)], dtype=np.float64)
    return eta + (d - 2.0 - columns) / 2.0


def _cholesky_inverse(s: Any, d: int) -> tuple[Any, Any]:
    """Inverse of the lower Cholesky factor and log-determinant, batched over axis 0."""
    low: list[list[Any]] = [[None] * d for _ in range(d)]
    for j in range(d):
        diag = s[:, j, j] - sum((low[j][m] ** 2 for m in range(j)), start=pt.zeros_like(s[:, 0, 0]))
        low[j][j] = pt.sqrt(diag)
        for i in range(j + 1, d):
            dot = sum((low[i][m] * low[j][m] for m in range(j)), start=pt.zeros_like(s[:, 0, 0]))
            low[i][j] = (s[:, i, j] - dot) / low[j][j]
    inv: list[list[Any]] = [[None] * d for _ in range(d)]
    zero = pt.zeros_like(s[:, 0, 0])
    for i in range(d):
        inv[i][i] = 1.0 / low[i][i]
        for j in range(i - 1, -1, -1):
            acc = sum((low[i][m] * inv[m][j] for m in range(j, i)), start=zero)
            inv[i][j] = -acc / low[i][i]
    matrix = pt.stack(
        [pt.stack([inv[i][j] if j <= i else zero for j in range(d)], axis=-1) for i in range(d)],
        axis=-2,
    )
    logdet = 2.0 * sum((pt.log(low[i][i]) for i in range(d)), start=zero)
    return matrix, logdet


def pattern_loglik(
    stats: Mapping[str, Any], mean: Any, beta: Any | None, covariance: Any, d: int
) -> Any:
    """(G,) log-likelihood of each group (PyTensor; the formula of
    :mod:`~bayes_ipd.one_stage.repeated_summaries`).

    ``mean`` (G, V) are the groups' visit means minus the outcome centre, ``beta`` (V, p),
    (G, V, p) per group (an arm's interactions) or None, ``covariance`` (G, V, V) each
    group's trial covariance; ``stats`` the padded statistics (``mask`` as 0/1 floats).
    """
    mask = stats["mask"]
    m = mean * mask
    sy, n = stats["sy"], stats["n"]
    a = stats["syy"] - sy[:, :, None] * m[:, None, :] - m[:, :, None] * sy[:, None, :]
    a = a + n[:, None, None] * m[:, :, None] * m[:, None, :]
    if beta is not None:
        g = mask[:, :, None] * (beta if beta.ndim == 3 else beta[None, :, :])  # (G, V, p)
        cyx_g = (stats["syx"][:, :, None, :] * g[:, None, :, :]).sum(axis=-1)  # C_yx G'
        gxx = (g[:, :, :, None] * stats["sxx"][:, None, :, :]).sum(axis=2)  # G C_xx
        gxxg = (gxx[:, :, None, :] * g[:, None, :, :]).sum(axis=-1)
        gsx = (g * stats["sx"][:, None, :]).sum(axis=-1)  # G s_x
        a = a - cyx_g - cyx_g.transpose(0, 2, 1) + gxxg
        a = a + m[:, :, None] * gsx[:, None, :] + gsx[:, :, None] * m[:, None, :]
    missing = 1.0 - mask
    padded = covariance * mask[:, :, None] * mask[:, None, :]
    padded = padded + missing[:, :, None] * pt.eye(d)[None, :, :]
    inv, logdet = _cholesky_inverse(padded, d)
    w = (inv[:, :, :, None] * a[:, None, :, :]).sum(axis=2)
    quad = (w * inv).sum(axis=(1, 2))
    return -0.5 * (stats["n_obs"] * LOG_2PI + n * logdet + quad)


# ------------------------------------------------------------------------ the model


def visit_times(visits: tuple[str, ...]) -> np.ndarray:
    """Visit times centred at their mean: numeric labels as numbers, names as positions."""
    try:
        times = np.array([float(v) for v in visits])
    except ValueError:
        times = np.arange(len(visits), dtype=np.float64)
    return times - times.mean()


def default_priors(s: RepeatedSummaries, options: RepeatedOptions) -> dict[str, tuple[float, ...]]:
    """The priors' numbers: scales from the outcome's pooled SD (module docstring)."""
    sd = s.outcome_sd
    n = max(float(s.n.sum()), 1.0)
    x_var = np.einsum("gpp->p", s.sxx) / n if s.sxx.shape[1] else np.zeros(0)
    x_sd = np.where(x_var > 0, np.sqrt(x_var), 1.0)
    coefficient = options.coefficient_sd or 2.5 * sd
    out = {
        "intercept": (s.outcome_mean, options.intercept_sd or 10.0 * sd),
        "effect": (0.0, options.effect_sd or 10.0 * sd),
        "tau": (options.tau_scale or sd,),
        "sigma": (options.sigma_scale or 5.0 * sd,),
        "coefficients": tuple(float(c) for c in coefficient / x_sd),
        "lkj": (float(options.eta),),
    }
    if options.interactions:
        idx = [s.covariates.index(name) for name in options.interactions]
        interaction = options.interaction_sd or 2.5 * sd
        out["interactions"] = tuple(float(c) for c in interaction / x_sd[idx])
    return out


def primary_index(visits: tuple[str, ...], primary: str | None) -> int:
    """Index of the primary visit (the last by default)."""
    if primary is None:
        return len(visits) - 1
    label = str(primary)
    matches = [i for i, v in enumerate(visits) if v == label or _same_number(v, label)]
    if not matches:
        raise SpecError(f"primary visit {primary!r} is not a visit ({', '.join(visits)})")
    return matches[0]


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return False


def _lkj_cholesky(name: str, d: int, eta: Any, dims: tuple[str, ...], batch: int | None) -> Any:
    """Cholesky factor(s) of LKJ(eta) correlation matrices through Beta-distributed CPCs."""
    if d == 1:
        shape = (batch, 1, 1) if batch is not None else (1, 1)
        return pt.ones(shape)
    b = cpc_beta_parameters(d, eta)
    raw = pm.Beta(f"{name}_raw", alpha=b, beta=b, dims=dims)
    return corr_cholesky(2.0 * raw - 1.0, d)


def build_repeated_model(
    summaries: RepeatedSummaries, options: RepeatedOptions | None = None
) -> RepeatedBuilt:
    """The PyMC model of the module docstring on ``summaries``."""
    options = options or RepeatedOptions()
    s = summaries
    k, v, p = s.k, len(s.visits), len(s.covariates)
    primary = primary_index(s.visits, options.primary_visit)
    check_interactions(s, options)
    priors = default_priors(s, options)
    pairs = [f"{s.visits[i]}:{s.visits[j]}" for i in range(v) for j in range(i)]
    coords = {"study": list(s.studies), "visit": list(s.visits), "covariate": list(s.covariates)}
    coords["visit_pair"] = pairs
    coords["term"] = ["intercept", "slope"]
    coords["term_pair"] = ["slope:intercept"]
    if options.interactions:
        coords["interaction"] = list(options.interactions)
    with pm.Model(coords=coords) as model:
        h = {name: pm.Data(f"prior_{name}", np.asarray(value)) for name, value in priors.items()}
        data = _stat_containers(s)
        parts = _interaction_parts(s, options, primary, h) if options.interactions else None
        offset = pm.Normal(
            "mu_offset",
            mu=h["intercept"][0] - data["centre"],
            sigma=h["intercept"][1],
            dims=("study", "visit"),
        )
        pm.Deterministic("mu", offset + data["centre"], dims=("study", "visit"))
        theta = _treatment_effects(options, h, s, k, v, parts[0] if parts else None)
        beta = None
        if p:
            beta = pm.Normal("beta", 0.0, h["coefficients"][None, :], dims=("visit", "covariate"))
        if parts is not None:  # the treated arm's covariate effects add gamma_within at P
            beta = beta[None, :, :] + data["arm"][:, None, None] * parts[1][None, :, :]
        covariance = _residual_covariance(options, h, k, v)
        mean = offset[data["trial"]] + data["arm"][:, None] * theta[data["trial"]]
        ll = pattern_loglik(data, mean, beta, covariance[data["trial"]], v)
        pm.Potential("loglik", ll.sum())
    return RepeatedBuilt(model=model, summaries=s, options=options, primary=primary, priors=priors)


def check_interactions(s: RepeatedSummaries, options: RepeatedOptions) -> None:
    """Refuse interactions the statistics cannot carry; warn, naming the trials, of an
    interaction covariate constant within a trial (no within-trial information there).

    Raises
    ------
    SpecError
        An interaction that is not a covariate.
    IPDDataError
        Summaries without the trials' covariate means, or an interaction covariate constant
        within every trial.
    """
    if not options.interactions:
        return
    for name in options.interactions:
        if name not in s.covariates:
            raise SpecError(
                f"interactions: {name!r} is not among the covariates {list(s.covariates)}; "
                "an effect modifier must also be a covariate"
            )
    if s.covariate_means is None:
        raise IPDDataError(
            "these repeated-measures summaries lack the trials' covariate means "
            "(covariate_means): summarise the rows again to fit interactions"
        )
    for name, trials in constant_within_trials(s, options.interactions).items():
        if len(trials) == s.k:
            raise IPDDataError(
                f"interaction covariate {name!r} is constant within every trial: no "
                "within-trial information on its interaction with treatment (a trial-level "
                "variable; use a meta-regression)"
            )
        warnings.warn(
            f"interaction covariate {name!r} is constant within trial(s) "
            f"{', '.join(map(repr, trials))}: they carry no within-trial information on its "
            "interaction with treatment",
            UserWarning,
            stacklevel=3,
        )


def _interaction_parts(
    s: RepeatedSummaries, options: RepeatedOptions, primary: int, h: Mapping[str, Any]
) -> tuple[Any, Any]:
    """The across-trial shift of the trials' effects (K, V) and the within-trial addition
    to the treated arm's covariate effects (V, p), both zero off the primary visit.

    The primary visit, the interaction columns and the centred trial means are data
    containers, so another primary visit or data set is the same compiled program.
    """
    idx = [s.covariates.index(name) for name in options.interactions]
    zbar = np.asarray(s.covariate_means)[:, idx]
    onehot = pm.Data("stat_primary", np.eye(len(s.visits))[primary])
    select = pm.Data("stat_interaction_columns", np.eye(len(s.covariates))[idx])
    across = pm.Data("stat_across", zbar - zbar.mean(axis=0))
    dims = "interaction"
    gamma_w = pm.Normal("gamma_within", 0.0, h["interactions"], dims=dims)
    gamma_a = pm.Normal("gamma_across", 0.0, h["interactions"], dims=dims)
    shift = pt.dot(across, gamma_a)[:, None] * onehot[None, :]
    treated = onehot[:, None] * pt.dot(gamma_w, select)[None, :]
    return shift, treated


def _stat_containers(s: RepeatedSummaries) -> dict[str, Any]:
    n_obs = s.n * s.mask.sum(axis=1)
    values = {
        "trial": s.trial,
        "arm": s.arm.astype(np.float64),
        "mask": s.mask.astype(np.float64),
        "n": s.n,
        "n_obs": n_obs,
        "sy": s.sy,
        "syy": s.syy,
        "sx": s.sx,
        "sxx": s.sxx,
        "syx": s.syx,
        "centre": s.centre,
    }
    return {name: pm.Data(f"stat_{name}", np.asarray(value)) for name, value in values.items()}


def _treatment_effects(
    options: RepeatedOptions,
    h: Mapping[str, Any],
    s: RepeatedSummaries,
    k: int,
    v: int,
    shift: Any = None,
) -> Any:
    z_dims = ("study", "visit") if options.effect_time == "visit" else ("study", "term")
    if options.effect_time == "visit":
        effect = pm.Normal("effect", h["effect"][0], h["effect"][1], dims="visit")
        tau = pm.HalfNormal("tau", h["tau"][0], dims="visit")
        chol = tau[:, None] * _lkj_cholesky("tau_corr", v, h["lkj"][0], ("visit_pair",), None)
        z = pm.Normal("theta_z", 0.0, 1.0, dims=z_dims)
        own = effect + z @ chol.T
        own = own if shift is None else own + shift
        return pm.Deterministic("theta", own, dims=("study", "visit"))
    times = pt.as_tensor(visit_times(s.visits))
    line = pm.Normal("effect_line", h["effect"][0], h["effect"][1], dims="term")
    tau_line = pm.HalfNormal("tau_line", h["tau"][0], dims="term")
    corr = _lkj_cholesky("tau_line_corr", 2, h["lkj"][0], ("term_pair",), None)
    chol = tau_line[:, None] * corr
    z = pm.Normal("theta_z", 0.0, 1.0, dims=z_dims)
    own = line + z @ chol.T  # (K, 2)
    cov = chol @ chol.T
    pm.Deterministic("effect", line[0] + line[1] * times, dims="visit")
    var = cov[0, 0] + 2.0 * cov[0, 1] * times + cov[1, 1] * times**2
    pm.Deterministic("tau", pt.sqrt(var), dims="visit")
    theta = own[:, :1] + own[:, 1:] * times[None, :]
    theta = theta if shift is None else theta + shift
    return pm.Deterministic("theta", theta, dims=("study", "visit"))


def _residual_covariance(options: RepeatedOptions, h: Mapping[str, Any], k: int, v: int) -> Any:
    if options.residual == "trial":
        sigma = pm.HalfNormal("sigma", h["sigma"][0], dims=("study", "visit"))
        corr = _lkj_cholesky("resid_corr", v, h["lkj"][0], ("study", "visit_pair"), k)
        chol = sigma[:, :, None] * corr  # (K, V, V)
        return (chol[:, :, None, :] * chol[:, None, :, :]).sum(axis=-1)
    sigma = pm.HalfNormal("sigma", h["sigma"][0], dims="visit")
    corr = _lkj_cholesky("resid_corr", v, h["lkj"][0], ("visit_pair",), None)
    chol = sigma[:, None] * corr
    return pt.broadcast_to((chol @ chol.T)[None, :, :], (k, v, v))
