package chart

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/kapot-go/kapot/bench"
)

// Draw draws the per-query medians as grouped bars (kapot, and DuckDB
// when compared) into a PNG at path.
func Draw(path string, r *bench.Result) error {
	p := plot.New()
	name := r.Benchmark
	if name == "" {
		name = "TPC-H"
	}
	p.Title.Text = fmt.Sprintf("%s SF %g, %s: median time per query (%d executors x %d slots)", name, r.SF, r.Layout, r.Executors, r.Slots)
	p.Y.Label.Text = "milliseconds"
	var kapot, duck plotter.Values
	var names []string
	for _, q := range r.Queries {
		names = append(names, q.Name)
		kapot = append(kapot, q.KapotMedian)
		duck = append(duck, q.DuckDBMedian)
	}
	w := vg.Points(8)
	kb, err := plotter.NewBarChart(kapot, w)
	if err != nil {
		return err
	}
	kb.Color = color.RGBA{R: 29, G: 53, B: 87, A: 255}
	p.Add(kb)
	p.Legend.Add("kapot", kb)
	if r.Total.DuckDBMs > 0 {
		kb.Offset = -w / 2
		db, err := plotter.NewBarChart(duck, w)
		if err != nil {
			return err
		}
		db.Offset = w / 2
		db.Color = color.RGBA{R: 244, G: 162, B: 97, A: 255}
		p.Add(db)
		p.Legend.Add(fmt.Sprintf("DuckDB (%d threads)", r.DuckDBThreads), db)
	}
	p.Legend.Top = true
	p.NominalX(names...)
	return p.Save(vg.Length(max(520, 60+len(names)*36)), 10*vg.Centimeter, path)
}
