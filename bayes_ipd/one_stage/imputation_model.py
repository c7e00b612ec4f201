"""Missing covariates imputed inside the one-stage model: the PyMC graph.

The covariate model, per imputed covariate ``x`` (continuous ones and binary ones
independently given the fully observed covariate terms ``w``, centred within trial):

* continuous: ``x_i ~ N(m_k + b'w_i, s_k)`` with ``m_k ~ N(M, T)`` and
  ``log s_k ~ N(log S, T_s)`` (variables ``impute_trial_mean``, ``impute_trial_sd``,
  ``impute_mean``, ``impute_mean_sd``, ``impute_log_sd``, ``impute_log_sd_sd``,
  ``impute_slope``), so a trial that never recorded ``x`` draws ``m_k`` and ``s_k`` from the
  distribution of the other trials';
* binary: ``logit P(x_i = 1) = a_k + b'w_i`` with ``a_k ~ N(A, T)`` (``impute_trial_logit``,
  ``impute_logit``, ``impute_logit_sd``, ``impute_logit_slope``).

Every observed value of an imputed covariate (complete and incomplete rows) enters the
covariate model (potential ``covariate_model``). An incomplete row's analysis likelihood is
``log sum_c P(c) p(y | x_obs, c)`` over the 0/1 combinations ``c`` of its missing binary
covariates (logsumexp: NUTS needs no discrete draws); a missing continuous covariate is
integrated out in closed form when the family can (:attr:`Family.integrates_normal_covariates`,
gaussian: ``y ~ N(eta, sigma² + sum_j g_j² s_kj²)`` with ``g_j`` the row's coefficient of
``x_j``), else it is one latent value (``impute_z``, non-centred) per missing value.
Priors are weakly informative on the observed values' scale (pooled mean and SD of the
observed values; slopes per pooled within-trial SD of the regressor): ``M ~ N(mean, 2.5 SD)``,
``T ~ HalfNormal(SD)``, ``log S ~ N(log SD, 1)``, ``T_s ~ HalfNormal(0.5)`` (trial SDs
within a factor of about 2.7 of each other a priori), slopes ``N(0, 2.5 SD)``; binary
``A ~ N(logit(prevalence), 2.5)``, ``T ~ HalfNormal(1.5)``, slopes ``N(0, 2.5)``. Each trial
mean and logit is centred or non-centred by the package's rule applied per trial, with a
margin (:func:`centred_mask`, :data:`CENTRED_MARGIN`); the trial log SDs are always
non-centred (:data:`NONCENTRED_ALWAYS`); the form is a data container.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_ipd.two_stage.estimators import dl_tau2

if TYPE_CHECKING:
    from bayes_ipd.one_stage.design import Design
    from bayes_ipd.one_stage.imputation import ImputationData
    from bayes_ipd.prior_values import PriorSet
    from bayes_ipd.spec import ModelSpec

__all__ = [
    "CovariateModel",
    "binary_combinations",
    "centred_mask",
    "covariate_model",
    "imputation_arrays",
    "imputation_coords",
    "imputed_loglik",
    "mixture_terms",
]

PRUNED = -1e30
"""Log weight of a 0/1 combination that contradicts an observed value (never counted)."""


def imputation_coords(design: Design) -> dict[str, list]:
    """Coordinates of the covariate model's variables (none without imputation)."""
    imp = design.imputation
    if imp is None:
        return {}
    out: dict[str, list] = {}
    cont, binary = imp.indices("continuous"), imp.indices("binary")
    if cont:
        out["imputed_continuous"] = [imp.imputed[j] for j in cont]
    if binary:
        out["imputed_binary"] = [imp.imputed[j] for j in binary]
    if imp.regressors:
        out["regressor"] = [design.covariate_terms[j] for j in imp.regressors]
    return out


KINDS = (("continuous", "cont"), ("binary", "bin"))
"""Each kind of imputed covariate and the suffix of its data containers."""


def imputation_arrays(design: Design) -> dict[str, np.ndarray]:
    """The values of the imputation's data containers (``impute_*``), by name.

    Everything that depends on the data is a container, so a model of the same structure
    (imputed covariates and their kinds, regressors, trials, the closed form or the number
    of latent values) reuses the compiled program with other data; the structure itself,
    including the number of latent values, is in the graph and so in the cache key.
    """
    imp = design.imputation
    if imp is None:
        return {}
    loc, scale = imp.observed_moments()
    observed = ~imp.missing
    rows = imp.rows
    terms = np.array(imp.terms, dtype=np.float64)
    terms[:, list(imp.columns)] = 0.0  # imputed columns enter through their own containers
    out: dict[str, np.ndarray] = {
        "impute_centre": np.asarray(imp.centre),
        "impute_stat_centre": np.asarray(imp.stat_centre),
        "impute_complete": np.asarray(imp.complete),
        "impute_study": np.asarray(imp.study, dtype=np.int64),
        "impute_row_study": np.asarray(imp.study[rows], dtype=np.int64),
        "impute_row_treat": np.asarray(imp.treat),
        "impute_row_terms": terms,
    }
    for kind, suffix in KINDS:
        idx = list(imp.indices(kind))
        if not idx:
            continue
        out[f"impute_values_{suffix}"] = np.nan_to_num(np.asarray(imp.values)[:, idx])
        out[f"impute_observed_{suffix}"] = observed[:, idx].astype(np.float64)
        out[f"impute_row_values_{suffix}"] = out[f"impute_values_{suffix}"][rows]
        out[f"impute_row_missing_{suffix}"] = (~observed[rows][:, idx]).astype(np.float64)
        for name, mask in _centred_masks(imp, design.k, kind).items():
            out[f"impute_centred_{name}"] = mask
    cont, binary = list(imp.indices("continuous")), list(imp.indices("binary"))
    if cont:
        out["impute_loc"], out["impute_scale"] = loc[cont], scale[cont]
    for role, values in imp.responses.items():
        out[f"impute_row_{role}"] = np.asarray(values)
    if imp.regressors:
        out["impute_regressors"] = np.asarray(imp.regressor_values)
        out["impute_row_regressors"] = np.asarray(imp.regressor_values[rows])
        out["impute_regressor_scale"] = imp.regressor_scale()
    if cont and not design.plugin.integrates_normal_covariates:
        r, c = np.nonzero(~observed[rows][:, cont])
        out["impute_latent_index"] = (r * len(cont) + c).astype(np.int64)
    if binary:
        p = np.clip(loc[binary], 0.02, 0.98)
        out["impute_logit_loc"] = np.log(p / (1.0 - p))
    return out


def _trial_estimates(imp: ImputationData, k: int) -> dict[str, np.ndarray]:
    """(K, J) per trial and imputed covariate: observed values ``n``, their mean ``mean``,
    the log of their SD ``log_sd`` and the logit of their mean ``logit`` (NaN where
    undefined), with the squared SEs ``*_se2`` of the last three."""
    n = np.zeros((k, len(imp.imputed)))
    mean, sd = np.full_like(n, np.nan), np.full_like(n, np.nan)
    for t in range(k):
        values = imp.values[imp.study == t]
        n[t] = (~np.isnan(values)).sum(axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            mean[t] = np.nanmean(values, axis=0)
            sd[t] = np.nanstd(values, axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.clip(mean, 0.5 / np.maximum(n, 1), 1 - 0.5 / np.maximum(n, 1))
        return {
            "n": n,
            "mean": mean,
            "mean_se2": sd**2 / n,
            "log_sd": np.log(sd),
            "log_sd_se2": 1.0 / (2.0 * (n - 1.0)),
            "logit": np.log(p / (1 - p)),
            "logit_se2": 1.0 / (n * p * (1 - p)),
        }


CENTRED_MARGIN = 4.0
"""A trial value is centred only where its squared SE is below the trials' spread over this
factor: the DerSimonian-Laird spread is noisy with few trials (with no true spread it
exceeds the squared SE in about 6% of sets of seven equal trials, four times it in about 1
in 25,000), and a centred value whose hierarchical SD has posterior mass near 0 is a funnel."""

NONCENTRED_ALWAYS = ("log_sd",)
"""Trial values always written non-centred: a covariate's SD varies little between trials
compared with the SE of a trial's log SD (``1/sqrt(2(n-1))``), so the spread of the log SDs
(``impute_log_sd_sd``) has its posterior near 0, where only the non-centred form samples
without divergences."""


def centred_mask(
    estimate: np.ndarray, se2: np.ndarray, margin: float = CENTRED_MARGIN
) -> np.ndarray:
    """1 where a trial value is written centred, 0 where non-centred: the package's
    parameterisation rule per trial (:mod:`~bayes_ipd.one_stage.builder`) with a margin -
    centred when the trial's own estimate is clearly informative, its squared SE below the
    DerSimonian-Laird spread of the trials' estimates divided by ``margin``
    (:data:`CENTRED_MARGIN`); a trial without an estimate (the covariate never recorded
    there) is always non-centred."""
    usable = np.isfinite(estimate) & np.isfinite(se2) & (se2 > 0)
    if usable.sum() < 2:
        return usable.astype(np.float64)
    tau2 = dl_tau2(estimate[usable], np.sqrt(se2[usable]))
    return (usable & (margin * np.where(usable, se2, np.inf) < tau2)).astype(np.float64)


def _centred_masks(imp: ImputationData, k: int, kind: str) -> dict[str, np.ndarray]:
    """The (K, J_kind) centred masks of the kind's hierarchical trial values."""
    est = _trial_estimates(imp, k)
    idx = list(imp.indices(kind))
    names = ("mean", "log_sd") if kind == "continuous" else ("logit",)
    return {
        name: np.column_stack(
            [
                np.zeros(k)
                if name in NONCENTRED_ALWAYS
                else centred_mask(est[name][:, j], est[f"{name}_se2"][:, j])
                for j in idx
            ]
        )
        for name in names
    }


def selection(columns: list[int], p: int) -> np.ndarray:
    """(len(columns), p) one-hot rows: ``v @ selection`` puts ``v``'s columns at
    ``columns`` of a (., p) matrix (a product, not an indexed update, keeps the gradient
    graph simple)."""
    out = np.zeros((len(columns), p))
    out[np.arange(len(columns)), columns] = 1.0
    return out


def _kind_selection(design: Design, kind: str) -> np.ndarray:
    imp = design.imputation
    columns = [imp.columns[j] for j in imp.indices(kind)]
    return selection(columns, len(design.covariate_terms))


def _interaction_selection(design: Design) -> np.ndarray:
    """(q, p): interaction ``i`` is the covariate term ``design.covariate_terms[col]``."""
    columns = [design.covariate_terms.index(t) for t in design.interaction_terms]
    return selection(columns, len(design.covariate_terms))


@dataclass(frozen=True)
class CovariateModel:
    """The covariate model's tensors: trial means (K, Jc), SDs (K, Jc), slopes (Jc, r);
    trial logits (K, Jb), logit slopes (Jb, r); and the (K, p) centres of every term."""

    mean: Any
    sd: Any
    slope: Any
    logit: Any
    logit_slope: Any
    centres: Any

    def across(self, design: Design) -> Any:
        """(K, q) the trials' centres of the interaction terms minus their mean.

        Its shape is made static: the centres come from data containers of unknown shape,
        and broadcasting them against ``study``-sized terms would add shape checks whose
        operand order PyTensor takes from a set (a graph fingerprint that changes from one
        build to the next, so a saved fit would not rebuild to the same model)."""
        zbar = pt.dot(self.centres, _interaction_selection(design).T)
        shape = (design.k, len(design.interaction_terms))
        return pt.specify_shape(zbar - zbar.mean(axis=0), shape)


def _trial_effects(name: str, top: Any, sd: Any, centred: Any, dims: tuple[str, str]) -> Any:
    """Trial values ``~ N(top, sd)``, each written centred or non-centred as the data
    container ``centred`` says (:func:`centred_mask`: which form is data, not structure, so
    the compiled program does not depend on it)."""
    raw = pm.Normal(
        f"{name}_raw",
        pt.where(centred, top[None, :], 0.0),
        pt.where(centred, sd[None, :], 1.0),
        dims=dims,
    )
    value = pt.where(centred, raw, top[None, :] + sd[None, :] * raw)
    return pm.Deterministic(name, value, dims=dims)


def _slopes(name: str, sd: Any, data: Mapping[str, Any], dims: tuple[str, str]) -> Any:
    """Regression slopes on the fully observed terms, sampled per regressor SD."""
    std = pm.Normal(f"{name}_std", 0.0, sd, dims=dims)
    return pm.Deterministic(name, std / data["impute_regressor_scale"][None, :], dims=dims)


def _continuous_part(data: Mapping[str, Any], r: int) -> tuple:
    dims = ("study", "imputed_continuous")
    loc, scale = data["impute_loc"], data["impute_scale"]
    centred = data["impute_centred_mean"] > 0
    mean_top = pm.Normal("impute_mean", loc, 2.5 * scale, dims="imputed_continuous")
    mean_sd = pm.HalfNormal("impute_mean_sd", scale, dims="imputed_continuous")
    mean = _trial_effects("impute_trial_mean", mean_top, mean_sd, centred, dims)
    log_sd = pm.Normal("impute_log_sd", pt.log(scale), 1.0, dims="imputed_continuous")
    log_sd_sd = pm.HalfNormal("impute_log_sd_sd", 0.5, dims="imputed_continuous")
    centred = data["impute_centred_log_sd"] > 0
    log_trial_sd = _trial_effects("impute_trial_log_sd", log_sd, log_sd_sd, centred, dims)
    sd = pm.Deterministic("impute_trial_sd", pt.exp(log_trial_sd), dims=dims)
    slope = None
    if r:
        dims_slope = ("imputed_continuous", "regressor")
        slope = _slopes("impute_slope", 2.5 * scale[:, None], data, dims_slope)
    return mean, sd, slope


def _binary_part(data: Mapping[str, Any], r: int) -> tuple:
    dims = ("study", "imputed_binary")
    centred = data["impute_centred_logit"] > 0
    top = pm.Normal("impute_logit", data["impute_logit_loc"], 2.5, dims="imputed_binary")
    top_sd = pm.HalfNormal("impute_logit_sd", 1.5, dims="imputed_binary")
    logit = _trial_effects("impute_trial_logit", top, top_sd, centred, dims)
    slope = None
    if r:
        slope = _slopes("impute_logit_slope", 2.5, data, ("imputed_binary", "regressor"))
    return logit, slope


def trial_shaped(design: Design, data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with the per-trial containers (``impute_centre``, ``impute_stat_centre``,
    ``impute_complete``, ``impute_centred_*``) given their static shape (K, ...): the trials
    and the imputed covariates are structure, and a container of unknown shape broadcast
    against ``study``-sized variables adds shape checks whose operand order PyTensor takes
    from a set - a graph fingerprint that would change from one build to the next."""
    per_trial = {
        name: (design.k, *arr.shape[1:])
        for name, arr in imputation_arrays(design).items()
        if name in ("impute_centre", "impute_stat_centre", "impute_complete")
        or name.startswith("impute_centred_")
    }
    return {
        name: pt.specify_shape(value, per_trial[name]) if name in per_trial else value
        for name, value in data.items()
    }


def covariate_model(design: Design, data: Mapping[str, Any]) -> CovariateModel:
    """Add the covariate model's variables and the observed values' likelihood (potential
    ``covariate_model``) to the current PyMC model; return its tensors."""
    data = trial_shaped(design, data)
    imp = design.imputation
    n_cont, n_bin = len(imp.indices("continuous")), len(imp.indices("binary"))
    r = len(imp.regressors)
    mean = sd = slope = logit = logit_slope = None
    centres = data["impute_centre"]
    if n_cont:
        mean, sd, slope = _continuous_part(data, r)
        centres = centres + pt.dot(mean, _kind_selection(design, "continuous"))
    if n_bin:
        logit, logit_slope = _binary_part(data, r)
        centres = centres + pt.dot(pt.sigmoid(logit), _kind_selection(design, "binary"))
    model = CovariateModel(mean, sd, slope, logit, logit_slope, centres)
    pm.Potential("covariate_model", observed_covariates_logp(model, data))
    return model


def _row_means(model: CovariateModel, study: Any, w: Any) -> tuple[Any, Any]:
    """Conditional means (rows, Jc) of the continuous and logits (rows, Jb) of the binary
    covariates at rows of trials ``study`` with centred regressors ``w`` (None: none)."""
    mean = logit = None
    if model.mean is not None:
        mean = model.mean[study]
        if model.slope is not None:
            mean = mean + pt.dot(w, model.slope.T)
    if model.logit is not None:
        logit = model.logit[study]
        if model.logit_slope is not None:
            logit = logit + pt.dot(w, model.logit_slope.T)
    return mean, logit


def observed_covariates_logp(model: CovariateModel, data: Mapping) -> Any:
    """Log density of every observed value of the imputed covariates (all rows; a missing
    value weighs 0)."""
    study = data["impute_study"]
    mean, logit = _row_means(model, study, data.get("impute_regressors"))
    total = pt.constant(0.0)
    if mean is not None:
        sd = model.sd[study]
        z = (data["impute_values_cont"] - mean) / sd
        logp = -0.5 * z**2 - pt.log(sd) - 0.5 * np.log(2.0 * np.pi)
        total = total + (logp * data["impute_observed_cont"]).sum()
    if logit is not None:
        logp = data["impute_values_bin"] * logit - pt.softplus(logit)
        total = total + (logp * data["impute_observed_bin"]).sum()
    return total


def binary_combinations(b: int) -> list[np.ndarray]:
    """The 2**b combinations of 0/1 values of ``b`` binary covariates, each (b,)."""
    return [np.asarray(c, dtype=np.float64) for c in itertools.product((0.0, 1.0), repeat=b)]


def mixture_terms(missing: Any, log_p1: Any, log_p0: Any, n_binary: int) -> list[tuple[Any, Any]]:
    """For each 0/1 combination ``c`` of the binary covariates: the values the missing
    entries take (``missing * c``, (R, B)) and the row's log weight ``sum_j missing_j log
    P(x_j = c_j)``, :data:`PRUNED` where ``c`` sets a present entry to 1 (so each row sums
    over the combinations of its missing entries only, each once).

    ``missing`` is (R, B) 0/1; ``log_p1``, ``log_p0`` are the rows' log P(x = 1), log P(x = 0).
    """
    out = []
    for c in binary_combinations(n_binary):
        fill = missing * c[None, :]
        log_p = log_p1 * c[None, :] + log_p0 * (1.0 - c[None, :])
        contradicts = ((1.0 - missing) * c[None, :]).sum(axis=1)
        weight = (log_p * missing).sum(axis=1) + PRUNED * pt.gt(contradicts, 0.0)
        out.append((fill, weight))
    return out


def _row_coefficients(design: Design, rows_coef: Any, treat: Any) -> Any:
    """(R, p) each row's coefficient of each covariate term: ``beta_k + t gamma_k``."""
    p = len(design.covariate_terms)
    g = rows_coef[:, 2 : 2 + p]
    if design.interaction_terms:
        g = g + treat[:, None] * pt.dot(rows_coef[:, 2 + p :], _interaction_selection(design))
    return g


def _complete_rows_loglik(
    design: Design, spec: ModelSpec, priors: PriorSet, coef: Any, data: Any, model: Any
) -> Any:
    """The family's exact loglik of the complete rows, their intercept and effect shifted
    from their own centre ``d_k`` to the model's ``c_k``."""
    p = len(design.covariate_terms)
    delta = data["impute_stat_centre"] - model.centres  # (K, p): d_k - c_k
    alpha = coef[:, 0] + (coef[:, 2 : 2 + p] * delta).sum(axis=1)
    theta = coef[:, 1]
    if design.interaction_terms:
        delta_q = pt.dot(delta, _interaction_selection(design).T)
        theta = theta + (coef[:, 2 + p :] * delta_q).sum(axis=1)
    shifted = pt.concatenate([alpha[:, None], theta[:, None], coef[:, 2:]], axis=1)
    return design.plugin.loglik(design, spec, priors, shifted, data) * data["impute_complete"]


def _continuous_fill(
    imp: ImputationData, model: CovariateModel, data: Mapping, closed: bool
) -> tuple[Any, Any]:
    """(R, Jc) values of the continuous covariates of the one-by-one rows (observed, or the
    conditional mean when integrated out, or a latent value) and the (R, Jc) variance left
    (None with latent values)."""
    mean, _ = _row_means(model, data["impute_row_study"], data.get("impute_row_regressors"))
    miss = data["impute_row_missing_cont"]
    observed = data["impute_row_values_cont"]
    sd = model.sd[data["impute_row_study"]]
    if closed:
        return observed + miss * mean, miss * sd**2
    index = data["impute_latent_index"]
    n_latent = int(np.asarray(imp.row_missing()[:, list(imp.indices("continuous"))]).sum())
    z = pm.Normal("impute_z", 0.0, 1.0, shape=n_latent)
    latent = mean.flatten()[index] + sd.flatten()[index] * z
    placed = pt.inc_subtensor(pt.zeros_like(observed).flatten()[index], latent)
    return observed + placed.reshape(observed.shape), None


def imputed_loglik(
    design: Design,
    spec: ModelSpec,
    priors: PriorSet,
    coef: Any,
    data: Any,
    model: CovariateModel,
) -> Any:
    """Per-trial log-likelihood: the complete rows' statistics plus, row by row, each
    incomplete row's likelihood with its missing covariates integrated out.

    Parameters
    ----------
    design : Design
        With :attr:`Design.imputation` set
        (:func:`~bayes_ipd.one_stage.imputation.imputation_design`).
    spec, priors, coef, data
        As :meth:`Family.loglik` takes them (``coef``: (K, m) per-trial coefficients;
        ``data`` holds the ``impute_*`` containers of :func:`imputation_arrays`).
    model : CovariateModel
        From :func:`covariate_model`.

    Returns
    -------
    tensor (K,)
    """
    imp = design.imputation
    family = design.plugin
    data = trial_shaped(design, data)
    total = _complete_rows_loglik(design, spec, priors, coef, data, model)
    study, treat = data["impute_row_study"], data["impute_row_treat"]
    rows_coef = coef[study]
    g = _row_coefficients(design, rows_coef, treat)
    values = data["impute_row_terms"]
    extra = None
    if model.mean is not None:
        closed = family.integrates_normal_covariates
        fill, var = _continuous_fill(imp, model, data, closed)
        s_cont = _kind_selection(design, "continuous")
        values = values + pt.dot(fill, s_cont)
        if closed:
            extra = (pt.dot(g, s_cont.T) ** 2 * var).sum(axis=1)
    if model.logit is not None:
        s_bin = _kind_selection(design, "binary")
        values = values + pt.dot(data["impute_row_values_bin"], s_bin)
    base = rows_coef[:, 0] + rows_coef[:, 1] * treat + (g * (values - model.centres[study])).sum(1)
    responses = {role: data[f"impute_row_{role}"] for role in imp.responses}
    if model.logit is None:
        row_ll = family.row_loglik(base, responses, study, extra)
    else:
        _, logit = _row_means(model, study, data.get("impute_row_regressors"))
        gb = pt.dot(g, s_bin.T)
        mixture = mixture_terms(
            data["impute_row_missing_bin"],
            -pt.softplus(-logit),
            -pt.softplus(logit),
            len(imp.indices("binary")),
        )
        terms = [
            family.row_loglik(base + (gb * fill).sum(axis=1), responses, study, extra) + weight
            for fill, weight in mixture
        ]
        row_ll = pt.logsumexp(pt.stack(terms), axis=0)
    return pt.inc_subtensor(total[study], row_ll)
