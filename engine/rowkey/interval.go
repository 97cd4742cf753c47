package rowkey

import "github.com/apache/arrow-go/v18/arrow"

const microsPerDay = int64(86_400_000_000)

// NormalizeInterval is how DuckDB orders and compares intervals: micros
// carried into days (24 hours each) and days into months (30 days each),
// each toward zero; equal normalized parts are equal intervals.
func NormalizeInterval(v arrow.MonthDayNanoInterval) (months, days, micros int64) {
	micros = v.Nanoseconds / 1000
	days = int64(v.Days) + micros/microsPerDay
	micros %= microsPerDay
	months = int64(v.Months) + days/30
	days %= 30
	return months, days, micros
}

// CompareIntervals orders two intervals as DuckDB does (NormalizeInterval).
func CompareIntervals(a, b arrow.MonthDayNanoInterval) int {
	am, ad, au := NormalizeInterval(a)
	bm, bd, bu := NormalizeInterval(b)
	switch {
	case am != bm:
		return cmpInt(am, bm)
	case ad != bd:
		return cmpInt(ad, bd)
	}
	return cmpInt(au, bu)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
