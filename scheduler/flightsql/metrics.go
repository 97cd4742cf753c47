package flightsql

import "github.com/prometheus/client_golang/prometheus"

var (
	preparedDesc      = prometheus.NewDesc("kapot_flightsql_prepared_statements", "Flight SQL prepared statements held (every owner).", nil, nil)
	preparedBytesDesc = prometheus.NewDesc("kapot_flightsql_prepared_bytes", "Bytes of the Flight SQL prepared statements held: text, bound parameters and a fixed cost each.", nil, nil)
	tokensDesc        = prometheus.NewDesc("kapot_flightsql_bearer_tokens", "Live Flight SQL bearer tokens (every principal).", nil, nil)
)

var _ prometheus.Collector = (*Server)(nil)

// Describe implements prometheus.Collector: the server's metrics are what
// it holds between calls.
func (f *Server) Describe(ch chan<- *prometheus.Desc) {
	ch <- preparedDesc
	ch <- preparedBytesDesc
	ch <- tokensDesc
}

// Collect implements prometheus.Collector.
func (f *Server) Collect(ch chan<- prometheus.Metric) {
	n, b := f.prepared.usage()
	ch <- prometheus.MustNewConstMetric(preparedDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(preparedBytesDesc, prometheus.GaugeValue, float64(b))
	tokens := 0
	if f.auth != nil {
		tokens = f.auth.liveTokens()
	}
	ch <- prometheus.MustNewConstMetric(tokensDesc, prometheus.GaugeValue, float64(tokens))
}
