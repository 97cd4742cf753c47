// Package chart draws a bench run's per-query medians as a PNG bar chart
// (gonum/plot). Only bin/kapot-bench (-tags duckdb) imports it: the
// plotting library stays out of the kapot binary.
package chart
