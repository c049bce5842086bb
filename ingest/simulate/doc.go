// Package simulate is the simulator source of hashatlas (estimate/METHOD.md §10.3): a seeded,
// deterministic world with known truth, published as the same messages the real collectors
// publish, so that the estimator can be checked against what it should find.
//
// The world (Config, DefaultConfig):
//   - Countries have hashrate factors g_c(t) with an exponential trend and a yearly cosine
//     season. Every pool has sizes and a true country mix; a pool with an allocation row
//     publishes a row M_k with pseudo-count κ_k, and its true mix m_k is drawn once per world
//     from Dirichlet(κ_k · M_k), exactly the estimator's model of a row (so its intervals are
//     honestly calibrated); a pool without a row (and "unknown") publishes no mix, and its
//     configured mix is its true one. The component of pool k in country c is
//     H_kc(t) = InitialHashrate · size_k · m_kc · g_c(t); pools and countries are its sums.
//     Rates are evaluated at the middle of each hour and held for the hour.
//   - A map-maker measures the network's country shares of some months with error and
//     publishes them months later (Config.Maps, ReferencesCSV), the evidence the estimator's
//     prior places rowless hashrate with.
//   - Grid regions have hourly demand and emergency flags, with stress events on drawn days.
//     A planted curtailment switches off β of a pool's total hashrate during the stressed
//     hours of a region (taken from the pool's hashrate in the region's country), so that on a
//     day with stressed fraction s the pool's expected blocks are × (1 − β·s), the model of
//     estimate/METHOD.md §8.4.
//   - Blocks arrive as a Poisson process of intensity H(t) / work, where work = 2^256 /
//     (target + 1) of the current epoch; each block's pool is drawn in proportion to the pools'
//     rates at that moment. The difficulty starts matched to the first hour's hashrate and is
//     retargeted every 2016 blocks by Bitcoin's rule (NextBits), with header times (whole
//     seconds, optionally jittered) as the timestamps.
//
// The truth (World.Truth, WriteTruthCSV) is the time-average of the same piecewise-constant
// rates over UTC day, ISO week and month windows wholly inside the span, plus the planted β;
// country truth is where the hashrate really is, every pool's in its true countries whether
// or not it publishes a row: it never contains XX. AllocationCSV, PoolHQCSV, ReferencesCSV and
// SitesCSV (empty) are the world's model data in estimate/modeldata's formats.
//
// Collector publishes a world through an ingest.Publisher; `hashatlas simulate` wires it.
package simulate
