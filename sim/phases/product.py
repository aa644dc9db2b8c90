"""Prices, users and the month's accounts."""

from __future__ import annotations

import math

import numpy as np

from sim.kernels import demand as demand_kernels
from sim.markets.users import (
    bass_new_adopters,
    bertrand_markup,
    logit_shares,
    reallocate_users,
    usage_by_firm,
)
from sim.stages import decisions, finance
from sim.stages.demand import (
    potential_adopters,
    potential_growth,
    usage_growth,
    usefulness_levels,
)
from sim.stages.demand import usefulness as demand_usefulness
from sim.state import Account, Luck


def _logaddexp(a: float, b: float) -> float:
    """``log(exp(a) + exp(b))`` of two floats without overflow: numpy's ``logaddexp`` formula
    (same libm calls, so the same bits), without the cost of a ufunc call on scalars."""
    if a == b:
        return a + _LN2
    d = a - b
    return a + math.log1p(math.exp(-d)) if d > 0 else b + math.log1p(math.exp(d))


_LN2 = math.log(2.0)


class ProductMarket:
    """Prices, users and the month's accounts."""

    def set_prices(self) -> None:
        """Prices as strategy: the logit-Bertrand markup over each firm's own serving cost, or a
        penetration price below cost by firms that can fund losses and want users."""
        sc = self.scenario_params
        pr = sc.pricing
        t = self.table
        if t.n == 0:
            return
        if self.kernels:
            # Kernel set_prices_targets (sim.kernels.demand), then numpy's exp and log; the
            # numpy code below is its reference.
            n = t.n
            target, base, ratio = np.empty(n), np.empty(n), np.empty(n)
            priced = np.empty(n, dtype=bool)
            demand_kernels.set_prices_targets(
                self.serving_intensity(),
                self.compute_price,
                self.adopters_m,
                self.seg_spend_2023,
                t.users_spend_weight,
                t.price_index,
                t.cash_m_rmb,
                t.net_burn_m_rmb,
                t.parent_backed,
                float(sc.demand.price_sensitivity),
                pr.max_markup,
                pr.penetration_target_share,
                pr.penetration_min_runway_months,
                pr.war_undercut,
                pr.penetration_discount,
                t.marginal_cost,
                target,
                base,
                ratio,
                priced,
            )
            adjusted = np.exp(np.log(base) + pr.adjustment_per_month * np.log(ratio))
            np.copyto(t.price_index, adjusted, where=priced)
            return
        mc = self.serving_intensity() * self.compute_price
        shares = self.spend_shares()
        price = t.price_index
        new = np.isnan(price)  # entrants not yet priced
        markup = bertrand_markup(shares, sc.demand.price_sensitivity, pr.max_markup)
        runway = finance.runway_months(t.cash_m_rmb, t.net_burn_m_rmb)
        bertrand = mc * markup
        penetrate = decisions.prices_for_penetration(
            shares,
            runway,
            t.parent_backed,
            np.where(new, np.inf, price),  # not yet priced: no threat
            mc,
            pr.penetration_target_share,
            pr.penetration_min_runway_months,
            pr.war_undercut,
        )
        target = np.where(penetrate, mc * (1 - pr.penetration_discount), bertrand)
        k = pr.adjustment_per_month
        base = np.where(new, 1.0, price)
        adjusted = np.exp(np.log(base) + k * np.log(target / base))
        t.price_index = np.where(new, target, adjusted)
        t.marginal_cost = mc

    def serve_users(self) -> None:
        """Adoption (Bass) under ceilings and provider choice (logit) per segment; usage served
        within each firm's serving capacity; revenue. Unserved demand costs appeal and users."""
        d = self.scenario_params.demand
        t = self.table
        best = float(np.maximum.reduce(t.capability_log10)) if t.n else 0.0
        floor = self.open_floor_log10()
        usefulness, consumer_usefulness = usefulness_levels(max(best, floor), d)
        intensity = self.serving_intensity()
        outside_cost = float(self.serving_intensity_2023 * self.compute_price) * (
            self.inference_efficiency()
        )
        outside_price = max(outside_cost * d.self_hosting_cost_multiple, 1e-9)
        # The outside option: self-hosting open weights, or doing without (log-sum of the two).
        self_host = (
            d.capability_weight * (floor - best)
            - d.price_sensitivity * math.log(outside_price)
            + d.outside_option_utility
        )
        if self.kernels:
            # Kernels serve_users_utilities, serve_users_reallocate and serve_users_usage
            # (sim.kernels.demand), with numpy's exp, log, pow and matrix products between them;
            # the numpy code below is their reference.
            years = self.years_from_reference()
            S = self.n_segments
            buf = self._buffers
            if "seg_new" not in buf:
                buf["seg_new"] = np.empty(S)
                buf["seg_outside_rel"] = np.empty(S)
                buf["spend_weights"] = np.empty((S, self.elasticity_groups.shape[0]))
            new, outside_rel = buf["seg_new"], buf["seg_outside_rel"]
            log_price = np.log(t.price_index)
            utility = self._scratch("utility")
            demand_kernels.serve_users_utilities(
                self.seg_potential_2023,
                self.seg_consumer,
                potential_growth(years, d),
                d.demand_scale,
                d.consumer_potential_multiple,
                d.consumer_ceiling_m,
                usefulness,
                consumer_usefulness,
                d.bass_innovation_per_month * self.hype,
                self.seg_innovation,
                d.bass_imitation_per_month,
                self.seg_imitation,
                self.adopters_m,
                self.potential_m,
                new,
                self.outside_users_m,
                self.orphans_m,
                self.month,
                t.entry_month,
                t.luck,
                t.taste,
                d.taste_shock_sd,
                d.taste_persistence,
                t.capability_log10,
                best,
                log_price,
                t.served_share,
                t.ecosystem,
                t.fit,
                t.approved,
                d.capability_weight,
                d.price_sensitivity,
                d.rationing_utility_penalty,
                d.ecosystem_weight,
                self.seg_eco_weight,
                _logaddexp(self_host, d.no_ai_utility),
                utility,
                outside_rel,
            )
            if t.n == 0:
                return
            np.exp(utility, out=utility)
            np.exp(outside_rel, out=outside_rel)
            weights = buf["spend_weights"]
            neg_x = np.empty(t.n)
            demand_kernels.serve_users_reallocate(
                utility,
                outside_rel,
                self.seg_consumer,
                t.approved,
                t.served_share,
                t.ecosystem,
                self.seg_churn_eco_neg,
                self.seg_churn,
                d.rationing_churn,
                d.churn_per_month,
                new,
                self.outside_users_m,
                self.orphans_m,
                t.users_m,
                t.users_total_m,
                self.seg_layer_spend_2023,
                usage_growth(years, d),
                self.seg_elasticity_group,
                weights,
                t.capability_log10,
                d.useful_capability_log10,
                d.usefulness_width_log10,
                neg_x,
            )
            t.users_spend_weight = t.users_m @ self.seg_spend_2023
            by_group = t.users_m @ weights
            power = t.price_index[:, None] ** (-self.elasticity_groups[None, :])
            np.exp(neg_x, out=neg_x)
            demand_kernels.serve_users_usage(
                neg_x,
                max(usefulness, 1e-12),
                t.price_index,
                by_group,
                power,
                d.usage_satiation_multiple,
                t.serve_h100e,
                intensity,
                t.demand_usage_m_rmb,
                t.served_usage_m_rmb,
                t.served_share,
                t.flows,
            )
            return

        potential = potential_adopters(
            self.seg_potential_2023,
            self.seg_consumer,
            self.years_from_reference(),
            usefulness,
            d,
            consumer_usefulness,
        )
        p_eff = d.bass_innovation_per_month * self.hype * self.seg_innovation
        q = d.bass_imitation_per_month * self.seg_imitation
        new = bass_new_adopters(self.adopters_m, potential, p_eff, q)
        self.adopters_m = self.adopters_m + new
        self.potential_m = potential

        outside_u = np.empty(self.n_segments)
        outside_u.fill(_logaddexp(self_host, d.no_ai_utility))
        if t.n == 0:
            self.outside_users_m = self.outside_users_m + new + self.orphans_m
            self.orphans_m = np.zeros(self.n_segments)
            return

        shocks = d.taste_shock_sd * self.luck(Luck.TASTE)
        taste = t.taste
        taste *= d.taste_persistence
        taste += shocks
        firm_u = (
            d.capability_weight * (t.capability_log10 - best)
            - d.price_sensitivity * np.log(t.price_index)
            + t.taste
            - d.rationing_utility_penalty * (1 - t.served_share)
        )
        # (firms, segments) utilities: own appeal + ecosystem where it matters + sector fit.
        # Built in scratch buffers kept across months: fresh (n, S) arrays cost page faults.
        utility = self._scratch("utility")
        np.multiply.outer(d.ecosystem_weight * t.ecosystem, self.seg_eco_weight, out=utility)
        utility += firm_u[:, None]
        utility += t.fit
        # Awaiting filing approval: a firm may not serve consumer segments (utility -inf).
        waiting = None
        if not np.logical_and.reduce(t.approved):
            waiting = ((~t.approved).nonzero()[0][:, None], self.seg_consumer_index)
            utility[waiting] = -np.inf
        inside, outside = logit_shares(utility, None, outside_u, overwrite=True)
        # Churn: the segment's rate, lowered by an ecosystem where the segment values it, raised
        # for a provider that could not serve its users last month.
        churn = self._scratch("churn")
        np.multiply.outer(t.ecosystem, self.seg_churn_eco_neg, out=churn)
        churn += self.seg_churn
        churn += (d.rationing_churn * (1 - t.served_share))[:, None]
        np.minimum(churn, 1.0, out=churn)
        if waiting is not None:
            churn[waiting] = 1.0  # users of a provider that may not serve them all re-choose
        t.users_m, self.outside_users_m = reallocate_users(
            t.users_m,
            self.outside_users_m,
            churn,
            d.churn_per_month,
            new,
            self.orphans_m,
            inside,
            outside,
            overwrite=True,
        )
        self.orphans_m = np.zeros(self.n_segments)
        t.users_total_m = np.add.reduce(t.users_m, axis=1)
        t.users_spend_weight = t.users_m @ self.seg_spend_2023

        spend = self.seg_layer_spend_2023 * usage_growth(self.years_from_reference(), d)
        # A weaker model is used less than the best available.
        own_use = demand_usefulness(t.capability_log10, d) / max(usefulness, 1e-12)
        demanded = own_use * usage_by_firm(
            t.users_m,
            t.price_index,
            spend,
            self.elasticity_groups,
            self.seg_elasticity_group,
            d.usage_satiation_multiple,
        )
        # Serving capacity binds: usage beyond what a firm's compute can serve is not served.
        served = np.minimum(demanded, t.serve_h100e / intensity)
        t.demand_usage_m_rmb = demanded
        t.served_usage_m_rmb = served
        share = t.served_share
        share.fill(1.0)
        np.divide(served, demanded, out=share, where=demanded > 0)
        t.flows[:, Account.REVENUE] += served * t.price_index  # M RMB (users in millions)

    def settle_accounts(self) -> None:
        """Cash flows: revenue, subsidies and funding in; staff, compute, overheads out.

        Co-funding programmes pay monthly out of budgets spread over the year, pro rata when
        claims exceed what is left. Parents pay committed budgets and cover losses up to
        ``firms.parent_loss_cover_multiple`` times the budget; beyond that cash falls.
        """
        sc = self.scenario_params
        gov, t = self.government, self.table
        if t.n == 0:
            return
        fl = t.flows
        if not self.kernels:  # (the kernel books them after co-funding, which reads neither)
            fl[:, Account.OVERHEAD] += sc.firms.overhead_m_rmb_per_month
            if gov.filing_active:
                fl[:, Account.COMPLIANCE_COST] += np.where(
                    t.approved, sc.policy.regulation.compliance_cost_m_rmb_per_month, 0.0
                )
        progs = gov.active_programmes("cofunding")
        if progs:
            # R&D spending net of compute vouchers; each programme co-funds a share of it.
            rd = fl[:, Account.STAFF_COST] + fl[:, Account.COMPUTE_COST] - fl[:, Account.SUBSIDY_IN]
            ps = gov.programme_set(progs)
            claims = np.where(
                t.pretraining,
                np.minimum(ps.rates[:, None] * np.maximum(rd, 0.0), self._caps_left(ps)),
                0.0,
            )
            self._pay_programmes(ps, claims)
        if self.kernels:
            # Kernel sim.kernels.finance.settle_month: overheads, compliance, settle, YTD sums.
            # (Imported here to keep this branch's edits inside settle_accounts.)
            from sim.kernels.finance import settle_month

            settle_month(
                fl,
                sc.firms.overhead_m_rmb_per_month,
                gov.filing_active,
                t.approved,
                sc.policy.regulation.compliance_cost_m_rmb_per_month,
                t.cash_m_rmb,
                t.budget_m_rmb_per_month,
                t.parent_backed,
                sc.firms.parent_loss_cover_multiple,
                t.net_burn_m_rmb,
                t.revenue_m_rmb,
                t.revenue_ytd_m_rmb,
                t.loss_ytd_m_rmb,
                t.pretraining,
                t.pretraining_months_ytd,
                t.operating_margin_m_rmb,
            )
            return
        t.cash_m_rmb, t.net_burn_m_rmb = finance.settle(
            fl,
            t.cash_m_rmb,
            t.budget_m_rmb_per_month,
            t.parent_backed,
            sc.firms.parent_loss_cover_multiple,
        )
        t.revenue_m_rmb = fl[:, Account.REVENUE]
        t.revenue_ytd_m_rmb += t.revenue_m_rmb
        t.loss_ytd_m_rmb += t.net_burn_m_rmb
        t.pretraining_months_ytd += t.pretraining
        t.operating_margin_m_rmb = fl[:, Account.REVENUE] - fl[:, Account.INFERENCE_COST]
