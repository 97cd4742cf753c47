package expr

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/kapot-go/kapot/engine/rowkey"
)

// The answers below are DuckDB 1.5's.

func mustMicros(t *testing.T, s string) int64 {
	t.Helper()
	v, err := ParseTimestamp(s, timestampType)
	if err != nil {
		t.Fatal(err)
	}
	return int64(v)
}

func TestAge(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want arrow.MonthDayNanoInterval
	}{
		{"2024-02-07 02:11:59", "2023-01-01 00:00:00", arrow.MonthDayNanoInterval{Months: 13, Days: 6, Nanoseconds: (2*3600 + 11*60 + 59) * 1e9}},
		{"2023-01-01 00:00:00", "2024-02-07 02:11:59", arrow.MonthDayNanoInterval{Months: -13, Days: -6, Nanoseconds: -(2*3600 + 11*60 + 59) * 1e9}},
		{"2024-03-31 00:00:00", "2024-02-29 12:00:00", arrow.MonthDayNanoInterval{Months: 1, Days: 1, Nanoseconds: 12 * 3600 * 1e9}},
		{"2024-01-31 00:00:00", "2024-03-01 00:00:00", arrow.MonthDayNanoInterval{Months: -1, Days: -1}},
		{"2024-03-01 00:00:00", "2024-01-31 00:00:00", arrow.MonthDayNanoInterval{Months: 1, Days: 1}},
		{"2024-05-31 10:00:00", "2024-04-30 11:00:00", arrow.MonthDayNanoInterval{Months: 1, Nanoseconds: 23 * 3600 * 1e9}},
	} {
		if got := age(mustMicros(t, c.a), mustMicros(t, c.b)); got != c.want {
			t.Errorf("age(%s, %s) = %+v, want %+v", c.a, c.b, got, c.want)
		}
	}
}

func TestDateDiffParts(t *testing.T) {
	for _, c := range []struct {
		part, a, b string
		want       int64
	}{
		{"hour", "1969-12-31 23:30:00", "1970-01-01 00:30:00", 1},
		{"minute", "1969-12-31 23:59:30", "1970-01-01 00:00:10", 1},
		{"second", "1969-12-31 23:59:59.5", "1970-01-01 00:00:00.2", 1},
		{"millisecond", "1969-12-31 23:59:59.9995", "1970-01-01 00:00:00", 1},
		{"week", "2024-01-03", "2024-01-08", 0},
		{"week", "2024-01-09", "2024-01-01", -1},
		{"week", "2024-01-01 12:00:00", "2024-01-08 06:00:00", 1},
		{"day", "2024-01-01 23:00:00", "2024-01-03 01:00:00", 2},
		{"quarter", "2024-03-31 23:00:00", "2024-04-01 00:00:00", 1},
		{"century", "1999-12-31", "2000-01-01", 1},
	} {
		if got := dateDiffPart(c.part, mustMicros(t, c.a), mustMicros(t, c.b)); got != c.want {
			t.Errorf("date_diff(%s, %s, %s) = %d, want %d", c.part, c.a, c.b, got, c.want)
		}
	}
}

func TestStrptime(t *testing.T) {
	for _, c := range []struct{ s, f, want string }{
		{"07/02/2024 02:11", "%d/%m/%Y %H:%M", "2024-02-07 02:11:00"},
		{"2024-02-07 14:11:59.123456", "%Y-%m-%d %H:%M:%S.%f", "2024-02-07 14:11:59.123456"},
		{"7/2/24", "%d/%m/%y", "2024-02-07 00:00:00"},
		{"Feb 7 2024 2:11 PM", "%b %d %Y %I:%M %p", "2024-02-07 14:11:00"},
		{"2024-02-07 14:11:59 +0200", "%Y-%m-%d %H:%M:%S %z", "2024-02-07 12:11:59"},
		{"  2024-2-7", "%Y-%m-%d", "2024-02-07 00:00:00"},
	} {
		us, _, err := strptime(c.s, c.f)
		if err != nil {
			t.Errorf("strptime(%q, %q): %v", c.s, c.f, err)
			continue
		}
		if us != mustMicros(t, c.want) {
			t.Errorf("strptime(%q, %q) = %s, want %s", c.s, c.f, utcTime(us), c.want)
		}
	}
	for _, c := range []struct{ s, f string }{{"xx", "%Y"}, {"2024-02-07 junk", "%Y-%m-%d"}, {"2024-02-30", "%Y-%m-%d"}} {
		if _, _, err := strptime(c.s, c.f); err == nil {
			t.Errorf("strptime(%q, %q) parsed", c.s, c.f)
		}
	}
}

func TestStrftime(t *testing.T) {
	got, err := strftime(utcTime(mustMicros(t, "2024-02-07 14:11:59.123456")), "%Y-%m-%d %H:%M:%S.%f | %I %p | %g | %j %a %A %b %B %w %u %y %-H %-M %-S %-I %n")
	want := "2024-02-07 14:11:59.123456 | 02 PM | 123 | 038 Wed Wednesday Feb February 3 3 24 14 11 59 2 123456000"
	if err != nil || got != want {
		t.Errorf("strftime = %q, %v; want %q", got, err, want)
	}
	got, _ = strftime(utcTime(mustMicros(t, "2024-02-07 00:01:02")), "%I %p %-I %-y %-j %-d %-m %U %W %V %G %c %x %X %h")
	if want := "12 AM 12 24 38 7 2 05 06 06 2024 2024-02-07 00:01:02 2024-02-07 00:01:02 Feb"; got != want {
		t.Errorf("strftime = %q, want %q", got, want)
	}
}

func TestIntervalOrder(t *testing.T) {
	iv := func(m, d int32, h int64) arrow.MonthDayNanoInterval {
		return arrow.MonthDayNanoInterval{Months: m, Days: d, Nanoseconds: h * 3600 * 1e9}
	}
	for _, c := range []struct {
		a, b arrow.MonthDayNanoInterval
		want int
	}{
		{iv(0, 1, 0), iv(0, 0, 23), 1},
		{iv(1, 0, 0), iv(0, 30, 0), 0},
		{iv(0, 1, 0), iv(0, 0, 24), 0},
		{iv(0, 29, 48), iv(1, 0, 0), 1},
		{iv(0, -1, 2), iv(0, 0, -22), -1},
		{iv(1, 0, 0), iv(0, 29, 23), 1},
	} {
		if got := rowkey.CompareIntervals(c.a, c.b); got != c.want {
			t.Errorf("compare(%+v, %+v) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestDivideInterval(t *testing.T) {
	day := int64(86_400_000_000_000)
	for _, c := range []struct {
		x    arrow.MonthDayNanoInterval
		k    int64
		want arrow.MonthDayNanoInterval
	}{
		{arrow.MonthDayNanoInterval{Days: 1}, 2, arrow.MonthDayNanoInterval{Nanoseconds: day / 2}},
		{arrow.MonthDayNanoInterval{Months: 1}, 2, arrow.MonthDayNanoInterval{Days: 15}},
		{arrow.MonthDayNanoInterval{Months: 1, Days: 1}, 3, arrow.MonthDayNanoInterval{Days: 10, Nanoseconds: day / 3}},
		{arrow.MonthDayNanoInterval{Days: -7}, 2, arrow.MonthDayNanoInterval{Days: -3, Nanoseconds: -day / 2}},
		{arrow.MonthDayNanoInterval{Nanoseconds: 1e9}, 3, arrow.MonthDayNanoInterval{Nanoseconds: 333_333_000}},
		{arrow.MonthDayNanoInterval{Days: 2158}, 7, arrow.MonthDayNanoInterval{Days: 308, Nanoseconds: 24_685_714_286_000}},
	} {
		got, ok, err := divideInterval(c.x, c.k)
		if err != nil || !ok || got != c.want {
			t.Errorf("%+v / %d = %+v (%v, %v), want %+v", c.x, c.k, got, ok, err, c.want)
		}
	}
	if _, _, err := divideInterval(arrow.MonthDayNanoInterval{Months: 1}, 7); err == nil {
		t.Error("1 month / 7 (DuckDB rounds its fraction of a day its own way) was not refused")
	}
}

func TestWallToInstant(t *testing.T) {
	ny, err := loadZone("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ wall, want string }{
		{"2024-02-07 02:11:59", "2024-02-07 07:11:59"},
		{"2024-03-10 02:30:00", "2024-03-10 07:30:00"}, // skipped: the offset before
		{"2024-11-03 01:30:00", "2024-11-03 06:30:00"}, // repeated: the later instant
	} {
		if got := wallToInstant(mustMicros(t, c.wall), ny); got != mustMicros(t, c.want) {
			t.Errorf("%s in New York = %s UTC, want %s", c.wall, time.UnixMicro(got).UTC(), c.want)
		}
	}
}
