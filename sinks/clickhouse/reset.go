package clickhouse

// reset empties c for the next round and keeps the room its slices and
// maps grew to: an INSERT round of 100,000 rows otherwise grows some sixty
// column slices from nothing every time, a fifth of what the service
// allocated in the ClickHouse benchmark — garbage the collector must keep
// up with under the heap limit. Elements are cleared, so that one round's
// strings do not outlive it.
func (c *columns) reset() {
	j := &c.journeys
	j.customerID, j.eventID, j.seq = reuse(j.customerID), reuse(j.eventID), reuse(j.seq)
	j.eventTime, j.tsMS = reuse(j.eventTime), reuse(j.tsMS)
	j.channel, j.typ, j.stage, j.prevChan = reuse(j.channel), reuse(j.typ), reuse(j.stage), reuse(j.prevChan)
	j.secsSincePrev, j.props, j.version, j.deleted = reuse(j.secsSincePrev), reuse(j.props), reuse(j.version), reuse(j.deleted)

	p := &c.profiles
	p.customerID, p.ids, p.firstSeen, p.lastSeen = reuse(p.customerID), reuse(p.ids), reuse(p.firstSeen), reuse(p.lastSeen)
	p.events, p.channels, p.stage, p.purchases = reuse(p.events), reuse(p.channels), reuse(p.stage), reuse(p.purchases)
	p.revenue, p.segments, p.updatedAt = reuse(p.revenue), reuse(p.segments), reuse(p.updatedAt)
	p.version, p.deleted = reuse(p.version), reuse(p.deleted)

	id := &c.identities
	id.idType, id.idValue, id.customerID = reuse(id.idType), reuse(id.idValue), reuse(id.customerID)
	id.version, id.deleted = reuse(id.version), reuse(id.deleted)

	m := &c.merges
	m.absorbed, m.survivor, m.via, m.mergedAt = reuse(m.absorbed), reuse(m.survivor), reuse(m.via), reuse(m.mergedAt)
	m.eventID, m.version, m.deleted = reuse(m.eventID), reuse(m.version), reuse(m.deleted)

	x := &c.conflicts
	x.customerID, x.idType, x.idValue, x.reason = reuse(x.customerID), reuse(x.idType), reuse(x.idValue), reuse(x.reason)
	x.at, x.eventID, x.version, x.deleted = reuse(x.at), reuse(x.eventID), reuse(x.version), reuse(x.deleted)

	g := &c.triggers
	g.triggerID, g.rule, g.customerID, g.firedAt = reuse(g.triggerID), reuse(g.rule), reuse(g.customerID), reuse(g.firedAt)
	g.eventIDs, g.version, g.deleted = reuse(g.eventIDs), reuse(g.version), reuse(g.deleted)

	a := &c.audits
	a.requestID, a.op, a.customerID, a.resolvedID = reuse(a.requestID), reuse(a.op), reuse(a.customerID), reuse(a.resolvedID)
	a.idType, a.status, a.actor, a.events = reuse(a.idType), reuse(a.status), reuse(a.actor), reuse(a.events)
	a.parts, a.requestedAt, a.version = reuse(a.parts), reuse(a.requestedAt), reuse(a.version)

	c.purge.customers, c.purge.identifiers = reuse(c.purge.customers), reuse(c.purge.identifiers)
	clear(c.jIdx)
	clear(c.pIdx)
	clear(c.iIdx)
}

func reuse[T any](s []T) []T {
	clear(s)
	return s[:0]
}
