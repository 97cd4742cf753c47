package difftest

// Shrink returns the smallest query it finds, by removing and simplifying
// parts of q, for which fails still holds (fails(q) must hold).
func Shrink(q *Query, fails func(*Query) bool) *Query {
	for steps := 0; steps < 200; steps++ {
		improved := false
		for _, c := range candidates(q) {
			if fails(c) {
				q, improved = c, true
				break
			}
		}
		if !improved {
			return q
		}
	}
	return q
}

func clone(q *Query) *Query {
	c := *q
	c.Items = append([]*Expr(nil), q.Items...)
	c.GroupBy = append([]*Expr(nil), q.GroupBy...)
	return &c
}

// candidates are q with one part removed or replaced by a smaller one,
// simplest first.
func candidates(q *Query) []*Query {
	var out []*Query
	add := func(f func(c *Query)) {
		c := clone(q)
		f(c)
		out = append(out, c)
	}
	if q.Where != nil {
		add(func(c *Query) { c.Where = nil })
		for _, k := range q.Where.Kids {
			if k.Type == Bool {
				add(func(c *Query) { c.Where = k })
			}
		}
	}
	if q.Having != nil {
		add(func(c *Query) { c.Having = nil })
	}
	if q.Distinct {
		add(func(c *Query) { c.Distinct = false })
	}
	if q.Limit >= 0 {
		add(func(c *Query) { c.Limit = -1 })
	}
	if q.Ordered {
		add(func(c *Query) { c.Ordered, c.Limit = false, -1 })
	}
	for i := range q.Items {
		if len(q.Items) > 1 {
			add(func(c *Query) { c.Items = append(c.Items[:i:i], c.Items[i+1:]...) })
		}
		for _, k := range q.Items[i].Kids {
			add(func(c *Query) { c.Items[i] = k })
		}
	}
	for i := range q.GroupBy {
		add(func(c *Query) { c.GroupBy = append(c.GroupBy[:i:i], c.GroupBy[i+1:]...) })
	}
	if q.Where != nil {
		for _, k := range q.Where.Kids {
			for _, kk := range k.Kids {
				if kk.Type == Bool {
					add(func(c *Query) { c.Where = kk })
				}
			}
		}
	}
	return out
}
