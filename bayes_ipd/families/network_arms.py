"""What a family contributes to the one-stage network meta-analysis: its arm-level model.

Without covariates every participant of arm ``a`` of trial ``k`` shares the linear predictor
``eta_{k,a} = alpha_k + delta_{k,a}`` (survival: per baseline interval), so the row-level
likelihood of the arm is a function of a few exact per-arm statistics. A family that has
such a model carries a :class:`NetworkArmModel` as :attr:`bayes_ipd.families.Family.network_arms`
(``None``: no arm-level network model); the one-stage network route
(:mod:`bayes_ipd.one_stage.network_summaries`, :mod:`~bayes_ipd.one_stage.network_model`,
:mod:`~bayes_ipd.one_stage.network_deviance`) asks it, never the family's name:

* :meth:`NetworkArmModel.sums` — the arm statistics from the rows (``n`` is added by the
  caller), exact;
* :meth:`NetworkArmModel.loglik` — each arm's log-likelihood as a PyTensor graph of ``eta``,
  creating the family's nuisance parameter (gaussian ``sigma``, NB ``dispersion``, ordinal
  ``cutpoint_gap``) in the model;
* :meth:`NetworkArmModel.loglik_numpy`, :meth:`NetworkArmModel.saturated`,
  :meth:`NetworkArmModel.replicate` (with :meth:`NetworkArmModel.observed`),
  :meth:`NetworkArmModel.nuisance_draws`, :meth:`NetworkArmModel.mean_link` — the same from
  posterior draws (deviance, DIC and the predictive check per arm);
* :meth:`NetworkArmModel.eta_derivatives` — the first and second derivatives in ``eta``
  (the marginal leave-one-trial-out LOO terms of
  :mod:`~bayes_ipd.one_stage.network_marginal`);
* :attr:`NetworkArmModel.aggregate_columns` — the columns of arm-level aggregate data the
  family reads (their sums enter the arm statistics).

The subclasses live in their family's module (``families/binomial.py``: ``BINOMIAL_ARMS``,
...). PyMC and PyTensor are imported only inside :meth:`NetworkArmModel.loglik`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayes_ipd.errors import IPDDataError

if TYPE_CHECKING:
    from bayes_ipd.prior_values import Prior, PriorSet

__all__ = ["Hyper", "NetworkArmModel", "per_arm_sum", "study_draws"]

Hyper = Callable[[str, "Prior"], list]
"""``hyper(slot, prior)``: the prior's numbers as model data (the ``prior_<slot>``
container of the network model), one tensor per parameter."""

IDENTITY: tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]] = (
    lambda x: x,
    lambda x: x,
)


def per_arm_sum(values: np.ndarray, cell_arm: np.ndarray, a: int) -> np.ndarray:
    """(..., A) sums of (..., C) cell values over the cells of each arm."""
    out = np.zeros((a, *values.shape[:-1]))
    np.add.at(out, cell_arm, np.moveaxis(values, -1, 0))
    return np.moveaxis(out, 0, -1)


@dataclass(frozen=True)
class NetworkArmModel:
    """Base of a family's arm-level network model (module docstring).

    Attributes
    ----------
    family : str
        The family's name (for messages).
    statistics : tuple of str
        The per-arm statistics besides ``n`` (the model's data containers).
    replicated : str
        The arm statistic a predictive check compares (``"events"``, ``"mean"``).
    aggregate_columns : tuple of str
        Columns of an arm-level aggregate-data table (besides ``study, treatment``); empty:
        the family's arms are not read as AD.
    baseline_dims : tuple of str
        Dims of a trial's baseline besides ``study`` (survival: ``("interval",)``).
    """

    family: str
    statistics: tuple[str, ...]
    replicated: str
    aggregate_columns: tuple[str, ...] = ()
    baseline_dims: tuple[str, ...] = ()

    def sums(self, row_arm: np.ndarray, a: int, roles: Mapping[str, np.ndarray]) -> dict[str, Any]:
        """The statistics besides ``n`` from the rows.

        Parameters
        ----------
        row_arm : numpy.ndarray
            (R,) int: each row's arm (0..A-1).
        a : int
            Number of arms.
        roles : Mapping of str to numpy.ndarray
            The rows' responses by role (``"outcome"``, ``"time"``, ``"event"``).

        Returns
        -------
        dict
            Arrays by statistic name (survival adds ``"cutpoints"``).
        """
        raise NotImplementedError

    def coords(self, stats: Mapping[str, np.ndarray], cutpoints: tuple[float, ...]) -> dict:
        """Extra coordinates of the family's network variables (default: none)."""
        return {}

    def loglik(self, eta: Any, data: Mapping[str, Any], priors: PriorSet, hyper: Hyper) -> Any:
        """(A,) PyTensor log-likelihood of each arm given its linear predictor ``eta``.

        Parameters
        ----------
        eta : tensor
            (A,) linear predictor per arm (survival (A, J)).
        data : Mapping of str to tensor
            The network model's data containers (the statistics, ``arm_study``, ...).
        priors : PriorSet
        hyper : Hyper
            The prior numbers as model data, by slot.
        """
        raise NotImplementedError

    def _unavailable(self, what: str) -> IPDDataError:
        return IPDDataError(f"{what} of the {self.family} network model is not available yet")

    def loglik_numpy(
        self, stats: Mapping[str, np.ndarray], arm_study: np.ndarray, eta: np.ndarray, nuisance: Any
    ) -> np.ndarray:
        """(..., A) each arm's log-likelihood at ``eta`` (..., A) and the nuisance draws
        (:meth:`nuisance_draws`)."""
        raise self._unavailable("the deviance")

    def saturated(self, stats: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """(A,) each arm's log-likelihood under the saturated model; None where there is
        none (an unknown residual SD or dispersion: the deviance is ``-2 loglik``)."""
        raise self._unavailable("the residual deviance")

    def replicate(
        self,
        stats: Mapping[str, np.ndarray],
        arm_study: np.ndarray,
        eta: np.ndarray,
        nuisance: Any,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """(S, A) posterior predictive replicates of :attr:`replicated`."""
        raise self._unavailable("the predictive check")

    def select(self, stats: Mapping[str, np.ndarray], arms: np.ndarray) -> dict[str, np.ndarray]:
        """The statistics of the arms ``arms`` (indices), in that order (default: each
        statistic indexed by arm; negative binomial: the arms' cells, renumbered)."""
        return {name: np.asarray(v)[arms] for name, v in stats.items()}

    def observed(self, stats: Mapping[str, np.ndarray]) -> np.ndarray:
        """(A,) the observed value of :attr:`replicated` per arm (default: the statistic
        itself; survival: the events summed over the baseline intervals)."""
        return np.asarray(stats[self.replicated])

    def eta_derivatives(
        self, stats: Mapping[str, np.ndarray], eta: np.ndarray, nuisance: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """First and second derivatives of each arm's log-likelihood in ``eta`` (..., A,
        *baseline) (survival: (..., A, J), one per interval), for the arms whose statistics
        are given (the Newton steps of the network's marginal leave-one-trial-out LOO). The
        log-likelihood of an arm (and interval) depends on its own ``eta`` only, so the
        Hessian is diagonal: the second derivatives have ``eta``'s shape. ``nuisance``
        (:meth:`nuisance_draws` of one trial, (..., 1, *nuisance dims)) broadcasts over
        the arms: gaussian the residual SD, negative binomial the dispersion, ordinal the
        cut points (..., 1, J - 1)."""
        raise self._unavailable("the marginal leave-one-trial-out LOO")

    @property
    def has_eta_derivatives(self) -> bool:
        """Whether the family gives :meth:`eta_derivatives`."""
        return type(self).eta_derivatives is not NetworkArmModel.eta_derivatives

    def nuisance_draws(self, posterior: Any) -> np.ndarray | None:
        """The nuisance parameter's draws, (S, K, ...) (default: none)."""
        return None

    def mean_link(
        self,
    ) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
        """The arm's mean from ``eta`` and back (the DIC plug-in; default: identity)."""
        return IDENTITY

    def outcome_scale(self, stats: Mapping[str, np.ndarray]) -> tuple[float, float] | None:
        """(mean, SD) of the outcome for scale-aware default priors; None on a fixed scale."""
        return None


def study_draws(posterior: Any, name: str, *dims: str) -> np.ndarray:
    """(S, K, ...) draws of a per-trial variable (chain-major, as
    :func:`bayes_ipd.families.base.flat_draws`)."""
    da = posterior[name].transpose("chain", "draw", "study", *dims)
    values = np.asarray(da.values, dtype=np.float64)
    return values.reshape(-1, *values.shape[2:])
