package modeldata

// Uncovered lists the pools that had ≥ 0.5 % of blocks in some month of
// 2024–2025 (in ../shared/data/blocks_2021_2026.csv.gz) but have no
// allocation row for those months, with the reason. Their blocks go to the
// country XX (unallocated) and must be reported as such, never hidden.
// Each of them still has a pool_hq.csv row. TestCoverage keeps this list
// honest in both directions.
var Uncovered = map[string]string{
	"antpool":        "no published geolocation of AntPool's hashrate; operator and HQ undisclosed since Bitmain's 2021 divestiture",
	"f2pool":         "no published country mix; f2pool stopped serving mainland-China miners in 2021-09 but states no positive mix",
	"spiderpool":     "operator and location of miners unknown; no public statement found",
	"binancepool":    "exchange-run pool with global customers; no published country mix",
	"secpool":        "operator and location of miners unknown; no public statement found",
	"luxor":          "US-run pool, but its customers' locations are not published (HQ is not hashrate location)",
	"braiinspool":    "Prague-run pool with global non-KYC miners; no published country mix",
	"oceanxyz":       "US-run non-custodial pool; miners' locations not published",
	"whitepool":      "operator and location of miners unknown; no public statement found",
	"miningsquared":  "BSquared Network pool; location of miners unknown",
	"carbonnegative": "unidentified miner (label from bitcoin-data/mining-pools); location unknown",
	"ultimuspool":    "operator not identified; location unknown",
	"nicehash":       "hashpower marketplace reselling hashrate from miners worldwide; no published mix",
	"sbicrypto":      "only evidence is SBI's Siberian (RU) mining, which ended 2022-02; no source for 2022 onwards",
}
