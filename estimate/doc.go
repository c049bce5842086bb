// Package estimate is the hashatlas model: pure functions that turn blocks, difficulty, pool
// attributions and grid observations into hashrate estimates with 95 % intervals (the method
// of METHOD.md, in this directory), and the estimator service loop (Service, Run). It imports
// neither Kafka, ClickHouse nor the network.
//
// # Model versions
//
// Every result carries ModelVersion; results of different versions never overwrite each other
// (the version is part of every table's key).
//
//   - 1.0.0: network hashrate (fixed-window Garwood, last-n), pool shares (Clopper–Pearson)
//     and pool hashrate (seeded Monte Carlo), METHOD.md §3–4.
//   - 1.1.0: adds, without changing 1.0.0's numbers, country hashrate and share (METHOD.md §6,
//     method pool-allocation), power and energy per country (§7), the block share of pools by
//     HQ region, curtailment fits and network dips (§8), and the energy-adjusted country variant.
//     The built-in tables of estimate/modeldata belong to the version (a test pins their
//     digest); other tables (--model.data-dir) give "1.1.0+data.<digest>".
//   - 2.0.0: country estimates place the hashrate no allocation row places (pools without a
//     row, unknown blocks, the XX part of rows) by a prior — the published country map or
//     survey nearest in time to the window (estimate/modeldata/references.csv), its confidence
//     shrinking with its age, with its source's caveats applied (PriorAt, METHOD.md §6.8) —
//     so XX keeps only what no source places; Backtest scores the model as of past days
//     against the references, leaving each figure's own source out (§10.4). Network, pool,
//     region and signal numbers are those of 1.1.0 but for the seeds (the version is in them).
//   - 2.0.1: the prior completes a map whose table names only its largest countries from the
//     nearest other whole-network map (METHOD.md §6.8, "A partial table"): XX in January–May
//     2021 from 11.1 % to 5.0 %. Every Monte Carlo draw differs from 2.0.0's (the version is in
//     the seeds). Pool hashrate intervals are the exact quantiles of the pool's Jeffreys Gamma
//     posterior (PoolHashrates) instead of Monte Carlo draws.
//
// # Choices the original design left open (1.1.0, METHOD.md §1.4)
//
//   - Country point values are the mean share over the draws (× the network's W/T for
//     hashrate), not the median of the original design: means add up, so a window's shares
//     sum to 100 % and its country hashrates to the network estimate; medians of small skewed
//     shares summed to ~98 % on real months. The interval is still the 2.5/97.5 % quantiles.
//   - Allocation rows and the fleet efficiency are read at the middle of each window.
//   - An allocation row's Dirichlet draws are shared by all windows (RowBank): draw d of a row
//     is the same in every window's draw d, seeded by the model version and the row. Each
//     window's marginal distribution is that of METHOD.md §6.2; across windows the allocation
//     uncertainty is one unknown, as it is in the world, instead of independent noise per window.
//   - The pools without an allocation row are drawn as one Dirichlet component (the sum of
//     their alphas): the same distribution of their summed share, which takes one draw of the
//     prior (2.0.0; in 1.1.0 it all went to XX).
//   - Power uses the hardware table without the profitability filter: hashatlas has no revenue
//     or electricity-price input yet, so every model 60 days to 5 years old counts.
//   - Stress: an hour of a grid region is stressed when its emergency flag is above 0 — for a
//     region that publishes emergency flags (any in the day or the 30 days before) that is the
//     only rule — else when its demand exceeds the 95th percentile of the region's hourly demand
//     over the 30 days before (given at least a week of them); a day's stress s is its stressed
//     hours / 24. Only hourly
//     demand and emergency observations are used; days without any are unknown and left out.
//   - Curtailment: μ_k(t) is pool k's share of blocks over the 30 days before t that had no
//     stress in the region tested (at least 7 of them) × the day's expected blocks (its observed
//     seconds / 600). Pools with at least 1 % of a window's blocks are fitted, under every region
//     with at least 3 stressed days, per calendar month and per calendar year (WindowYear).
//     The stored p-value is Bonferroni-adjusted by the number of fits of the window, and a fit
//     is significant below 0.05: with tens of pools × regions a raw 0.05 would find curtailment
//     somewhere by chance almost every time.
//   - The energy-adjusted variant of a day, week or month uses the significant fits of the
//     calendar year its window starts in. Where no fit changes a row, its rows equal the
//     pool-allocation ones (relabelled), so both methods always exist for every window.
//   - Network dips: every day with stress in a region gets a row (signal network_dip) with the
//     Poisson lower-tail p-value of its block count; β is the fraction of expected blocks
//     missing with a Garwood interval, and the shed hashrate and power follow from it.
//
// Within 1.1.0, without changing any earlier number, later additions: grid stress read from the
// chain alone and the grid exposure of every pool it gives (ComputeChainStress, METHOD.md
// §8.11; exposures also adjust pools without an allocation row in the energy-adjusted variant,
// §8.9), and power that is unknown (NaN) before the hardware table (§7.5).
//
// # Restarts
//
// A restarted estimator does not replay and recompute the whole input log: Run restores the
// state its store holds (Service.Restore, a Checkpoint), checks it against the consumer group's
// commits, replays only what follows them, and recomputes only the windows whose stored inputs
// digest or finality differ (ServiceConfig.FullRebuild forces the full replay). It reads only
// the recent weeks first (RestoreHorizon, Service.RestoreRecent): a restart with nothing new
// costs the same at any history length. The rest is loaded from the store before the first
// input that changes the state — the chain-stress test then needs every day (its q-values are
// over all days, METHOD.md §8.11) — or at once when a recent window's stored estimate is stale.
package estimate
