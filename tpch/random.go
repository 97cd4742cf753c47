package tpch

import (
	"math/rand/v2"
	"strings"
)

// Every random value is a pure function of (table, row, column): a row's
// values do not depend on which partition or in what order it is
// generated, so partitions can be written independently and in parallel
// and a scale factor always yields the same data.

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// rowRand is the random source of one row of one table.
type rowRand struct {
	table uint64
	row   int64
}

func (r rowRand) u64(col int) uint64 {
	return splitmix(splitmix(r.table*0x100000001b3^uint64(r.row)) ^ uint64(col)*0xd6e8feb86659fd93)
}

// intn returns a uniform integer in [lo, hi] for column col.
func (r rowRand) intn(col int, lo, hi int64) int64 {
	return lo + int64(r.u64(col)%uint64(hi-lo+1))
}

func (r rowRand) pick(col int, list []string) string {
	return list[r.u64(col)%uint64(len(list))]
}

// stream returns a sequential generator for values that need many draws
// (text, word lists).
func (r rowRand) stream(col int) *rand.Rand {
	s := r.u64(col)
	return rand.New(rand.NewPCG(s, splitmix(s)))
}

// text returns a comment of length in [lo, hi] built from the
// specification's sentence grammar.
func text(g *rand.Rand, lo, hi int) string {
	n := lo + g.IntN(hi-lo+1)
	var sb strings.Builder
	for sb.Len() < n {
		if sb.Len() > 0 {
			sb.WriteByte(' ')
		}
		sentence(g, &sb)
	}
	s := sb.String()[:n]
	return strings.TrimRight(s, " ")
}

func word(g *rand.Rand, list []string) string { return list[g.IntN(len(list))] }

func nounPhrase(g *rand.Rand, sb *strings.Builder) {
	switch g.IntN(4) {
	case 0:
		sb.WriteString(word(g, nouns))
	case 1:
		sb.WriteString(word(g, adjectives) + " " + word(g, nouns))
	case 2:
		sb.WriteString(word(g, adjectives) + ", " + word(g, adjectives) + " " + word(g, nouns))
	default:
		sb.WriteString(word(g, adverbs) + " " + word(g, adjectives) + " " + word(g, nouns))
	}
}

func verbPhrase(g *rand.Rand, sb *strings.Builder) {
	switch g.IntN(4) {
	case 0:
		sb.WriteString(word(g, verbs))
	case 1:
		sb.WriteString(word(g, auxiliaries) + " " + word(g, verbs))
	case 2:
		sb.WriteString(word(g, verbs) + " " + word(g, adverbs))
	default:
		sb.WriteString(word(g, auxiliaries) + " " + word(g, verbs) + " " + word(g, adverbs))
	}
}

func prepPhrase(g *rand.Rand, sb *strings.Builder) {
	sb.WriteString(word(g, prepositions) + " the ")
	nounPhrase(g, sb)
}

func sentence(g *rand.Rand, sb *strings.Builder) {
	nounPhrase(g, sb)
	sb.WriteByte(' ')
	switch g.IntN(5) {
	case 0:
		verbPhrase(g, sb)
	case 1:
		verbPhrase(g, sb)
		sb.WriteByte(' ')
		prepPhrase(g, sb)
	case 2:
		verbPhrase(g, sb)
		sb.WriteByte(' ')
		nounPhrase(g, sb)
	case 3:
		prepPhrase(g, sb)
		sb.WriteByte(' ')
		verbPhrase(g, sb)
		sb.WriteByte(' ')
		nounPhrase(g, sb)
	default:
		prepPhrase(g, sb)
		sb.WriteByte(' ')
		verbPhrase(g, sb)
		sb.WriteByte(' ')
		prepPhrase(g, sb)
	}
	sb.WriteString(word(g, terminators))
}

// vstring is a random alphanumeric string of length in [lo, hi] (addresses).
func vstring(g *rand.Rand, lo, hi int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ,. "
	n := lo + g.IntN(hi-lo+1)
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[g.IntN(len(alphabet))]
	}
	return string(b)
}
