package gen

// Ground truth rests on one invariant, kept by every code path in this file: an event carries an
// identifier value the person has not shown before only if it also carries one the person has
// already shown (or it is the person's first event). The identifiers a person ever shows are
// therefore connected through events carrying two or more of them, and perfect identifier
// stitching yields exactly one group per person. Filler events use only identifiers already
// shown; new identifiers come only from the person's script of linking steps, whose anchors are
// introduced by earlier steps.

type persona uint8

const (
	anonBrowser persona = iota // web only, one cookie, never identifies
	webBuyer                   // cookie → signup/login (user+email) → cart/checkout/purchase, e-mails
	storeMember                // loyalty card + phone in stores, sometimes e-mail
	omnichannel                // all four channels
	complainer                 // buys, then calls/complains on the call centre, answers surveys
	numPersonas
)

var personaName = [numPersonas]string{"anonymous_browser", "web_buyer", "store_member", "omnichannel", "complainer"}

// Persona shares of persons (assigned exactly, not drawn, so small populations keep the mix).
var personaShare = [numPersonas]float64{0.30, 0.25, 0.15, 0.20, 0.10}

// Relative activity: anonymous browsers emit few events, omnichannel customers many, so most
// events come from known customers.
var personaActivity = [numPersonas]float64{0.45, 1.0, 0.7, 1.6, 1.2}

type channel uint8

const (
	chWeb channel = iota
	chStore
	chCallcentre
	chEmail
	numChannels
)

var channelName = [numChannels]string{"web", "store", "callcentre", "email"}

type evType uint8

const (
	evPageView evType = iota
	evProductView
	evAddToCart
	evCheckout
	evPurchase
	evCall
	evComplaint
	evEmailSent
	evEmailOpen
	evEmailClick
	evLogin
	evSignup
	evSurvey
)

var evTypeName = [...]string{
	"page_view", "product_view", "add_to_cart", "checkout", "purchase", "call", "complaint",
	"email_sent", "email_open", "email_click", "login", "signup", "survey_response",
}

// step is one scripted linking event; ids[:n] are refs into the person's identifiers.
type step struct {
	ch     channel
	typ    evType
	tablet bool // the person's first store visit, on the home store's shared tablet
	n      uint8
	ids    [3]idRef
}

func mk(ch channel, typ evType, ids ...idRef) step {
	s := step{ch: ch, typ: typ, n: uint8(len(ids))}
	copy(s.ids[:], ids)
	return s
}

func ck(i int) idRef { return idRef{idCookie, uint8(i)} }
func dv(i int) idRef { return idRef{idDevice, uint8(i)} }
func em(i int) idRef { return idRef{idEmail, uint8(i)} }
func ph(i int) idRef { return idRef{idPhone, uint8(i)} }

var (
	usr = idRef{idUser, 0}
	loy = idRef{idLoyalty, 0}
	crm = idRef{idCRM, 0}
)

type person struct {
	idx       int
	kind      persona
	storeSide bool // omnichannel: first contact in a store; complainer: buys in stores, not online
	first     uint8
	last      uint8
	phoneFmt  uint8 // the layout this person's phone is usually written in
	tablet    bool  // forced to start on the home store's shared tablet
	home      int   // home store index

	cookies, devices []uint64
	emails           []emailAddr
	phones           []phoneNum
	user, loyalty    uint64
	crm              uint64
	hasUser, hasLoy  bool
	hasCRM           bool

	intro  [numIDTypes]uint8 // bit i set: value i of the type has been shown in an emitted event
	script []step

	next      int64   // event time (ms offset) of the next event
	gap       float64 // mean gap between events in ms; 0: the person emits one event
	events    int
	webStage  uint8 // 0 browsing, 1 viewed a product, 2 cart filled, 3 checked out
	cart      int64 // cents in the web cart
	purchases int
}

func (p *person) shown(t idType) bool { return p.intro[t] != 0 }

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// initPerson draws the person's identifiers and linking script.
func (g *Generator) initPerson(p *person) {
	r := g.rng
	p.first = uint8(r.IntN(len(firstNames)))
	p.last = uint8(r.IntN(len(lastNames)))
	p.phoneFmt = uint8(r.IntN(len(phoneFormats)))
	coin := func(pr float64) int { return b2i(r.Float64() < pr) }

	var core, extra []step
	switch p.kind {
	case anonBrowser:
		g.addCookies(p, 1)
		core = []step{mk(chWeb, evPageView, ck(0))}

	case webBuyer:
		g.addCookies(p, 1+coin(0.45)+coin(0.15))
		g.addDevices(p, coin(0.3))
		g.addEmails(p, 1+coin(0.2))
		g.addUser(p)
		core = []step{mk(chWeb, evPageView, ck(0)), mk(chWeb, evSignup, ck(0), usr, em(0))}
		extra = g.webExtras(p, extra)

	case storeMember:
		g.addLoyalty(p)
		g.addPhones(p, 1+coin(0.25))
		g.addEmails(p, coin(0.5))
		core = []step{g.firstStoreStep(p)}
		extra = g.storeExtras(p, extra)

	case omnichannel:
		g.addCookies(p, 1+r.IntN(4))
		g.addDevices(p, r.IntN(3))
		g.addEmails(p, 1+coin(0.35))
		g.addPhones(p, 1+coin(0.3))
		g.addUser(p)
		g.addLoyalty(p)
		if r.Float64() < 0.6 {
			g.addCRM(p)
		}
		if p.storeSide {
			// Met in a store first; the e-mail given at the till later bridges to the web account.
			core = []step{g.firstStoreStep(p), mk(chStore, evPurchase, loy, em(0))}
			if r.Float64() < 0.5 {
				core = append(core, mk(chWeb, evSignup, ck(0), usr, em(0)))
			} else {
				// clicks a newsletter link first (ESP tracking ties the cookie), logs in later
				core = append(core, mk(chEmail, evEmailClick, em(0), ck(0)), mk(chWeb, evLogin, ck(0), usr))
			}
		} else {
			core = []step{mk(chWeb, evPageView, ck(0)), mk(chWeb, evSignup, ck(0), usr, em(0))}
			if r.Float64() < 0.5 {
				core = append(core, mk(chStore, evPurchase, loy, ph(0), em(0)))
			} else {
				// phone given at web checkout, then the loyalty card shows that phone in store
				core = append(core, mk(chWeb, evPurchase, ck(0), usr, ph(0)), mk(chStore, evPurchase, loy, ph(0)))
			}
		}
		extra = g.webExtras(p, extra)
		if len(p.phones) > 1 {
			extra = append(extra, mk(chStore, evPurchase, loy, ph(1)))
		}
		if p.hasCRM {
			extra = append(extra, mk(chCallcentre, evCall, ph(0), crm))
		}

	case complainer:
		g.addPhones(p, 1+coin(0.3))
		g.addCRM(p)
		if p.storeSide {
			g.addLoyalty(p)
			g.addEmails(p, coin(0.4))
			core = []step{g.firstStoreStep(p), mk(chCallcentre, evCall, ph(0), crm)}
			extra = g.storeExtras(p, extra)
		} else {
			g.addCookies(p, 1+coin(0.4))
			g.addEmails(p, 1)
			g.addUser(p)
			core = []step{
				mk(chWeb, evPageView, ck(0)),
				mk(chWeb, evSignup, ck(0), usr, em(0)),
				mk(chWeb, evPurchase, ck(0), usr, ph(0)), // delivery phone at checkout
				mk(chCallcentre, evCall, ph(0), crm),
			}
			extra = g.webExtras(p, extra)
		}
		if len(p.phones) > 1 {
			extra = append(extra, mk(chCallcentre, evCall, ph(1), crm))
		}
	}
	r.Shuffle(len(extra), func(i, j int) { extra[i], extra[j] = extra[j], extra[i] })
	p.script = append(core, extra...)
}

// firstStoreStep is the first visit of a store-side person; a tablet-forced person signs in on
// the store's shared tablet, which guarantees every tablet at least its quota of persons (the
// first event of every person is always emitted).
func (g *Generator) firstStoreStep(p *person) step {
	typ := evPurchase
	if !p.tablet && g.rng.Float64() < 0.3 {
		typ = evSignup // loyalty-card sign-up at the till
	}
	s := mk(chStore, typ, loy, ph(0))
	s.tablet = p.tablet
	return s
}

// webExtras links a web person's further cookies, app devices and second e-mail. Anchors
// (ck0, user, email0) are all introduced by the core steps.
func (g *Generator) webExtras(p *person, extra []step) []step {
	r := g.rng
	for i := 1; i < len(p.cookies); i++ {
		if r.Float64() < 0.6 || len(p.emails) == 0 {
			extra = append(extra, mk(chWeb, evLogin, ck(i), usr)) // new browser, logs in
		} else {
			extra = append(extra, mk(chEmail, evEmailClick, em(0), ck(i))) // opens a mail link
		}
	}
	for i := range p.devices {
		extra = append(extra, mk(chWeb, evLogin, dv(i), usr)) // app login
	}
	if len(p.emails) > 1 {
		switch {
		case p.kind == omnichannel && r.Float64() < 0.4:
			extra = append(extra, mk(chStore, evPurchase, loy, em(1)))
		case r.Float64() < 0.5:
			extra = append(extra, mk(chWeb, evLogin, ck(0), usr, em(1)))
		default:
			extra = append(extra, mk(chEmail, evEmailClick, em(1), ck(0)))
		}
	}
	return extra
}

// storeExtras links a store person's second phone and e-mail through the loyalty card or first phone.
func (g *Generator) storeExtras(p *person, extra []step) []step {
	if len(p.phones) > 1 && p.kind == storeMember {
		extra = append(extra, mk(chStore, evPurchase, loy, ph(1)))
	}
	if len(p.emails) > 0 {
		if g.rng.Float64() < 0.7 {
			extra = append(extra, mk(chStore, evPurchase, loy, em(0)))
		} else {
			extra = append(extra, mk(chStore, evPurchase, ph(0), em(0)))
		}
	}
	return extra
}

func (g *Generator) addCookies(p *person, n int) {
	for range n {
		p.cookies = append(p.cookies, g.ids.hex64(nsCookie))
	}
}

func (g *Generator) addDevices(p *person, n int) {
	for range n {
		p.devices = append(p.devices, g.ids.hex64(nsDevice))
	}
}

func (g *Generator) addEmails(p *person, n int) {
	for i := range n {
		p.emails = append(p.emails, emailAddr{n: g.ids.digits(nsEmail, 1), domain: uint8(min(i, len(emailDomains)-1))})
	}
}

func (g *Generator) addPhones(p *person, n int) {
	for range n {
		x := g.rng.Float64()
		area := 0
		for area < len(phoneAreas)-1 && x >= phoneAreas[area].weight {
			x -= phoneAreas[area].weight
			area++
		}
		p.phones = append(p.phones, g.ids.newPhone(area, g.rng.IntN(2) == 1))
	}
}

func (g *Generator) addUser(p *person) { p.user, p.hasUser = g.ids.digits(nsUser, 7), true }
func (g *Generator) addLoyalty(p *person) {
	p.loyalty, p.hasLoy = g.ids.digits(nsLoyalty, 6), true
}
func (g *Generator) addCRM(p *person) { p.crm, p.hasCRM = g.ids.digits(nsCRM, 7), true }

// event is one generated valid event before rendering.
type event struct {
	ch     channel
	typ    evType
	n      int
	ids    [3]idRef
	store  int  // store index for store events
	tablet bool // carries the store's shared tablet device
	junk   int  // index into junkIDs, -1 none
	cents  int64
	qty    int
}

func (e *event) add(r idRef) { e.ids[e.n] = r; e.n++ }

func (e *event) has(t idType) bool {
	for _, r := range e.ids[:e.n] {
		if r.t == t {
			return true
		}
	}
	return false
}

// personEvent produces the person's next event: the next scripted linking step (always for the
// first event, then with some probability) or a filler event over identifiers already shown.
func (g *Generator) personEvent(p *person) event {
	var ev event
	if len(p.script) > 0 && (p.events == 0 || g.rng.Float64() < 0.35) {
		s := p.script[0]
		p.script = p.script[1:]
		ev = event{ch: s.ch, typ: s.typ, n: int(s.n), ids: s.ids, store: -1, tablet: s.tablet, junk: -1}
		if s.ch == chStore {
			ev.store = p.home
		}
	} else {
		ev = g.filler(p)
	}
	g.commerce(p, &ev)
	if g.noisy && ev.n+b2i(ev.tablet) <= 2 && g.rng.Float64() < junkShare {
		for range 4 { // a type the event does not carry yet; give up quietly after a few tries
			j := g.rng.IntN(len(junkIDs))
			if !ev.has(idTypeByName(junkIDs[j].t)) && !(ev.tablet && junkIDs[j].t == "device") {
				ev.junk = j
				break
			}
		}
	}
	for _, r := range ev.ids[:ev.n] {
		p.intro[r.t] |= 1 << r.i
	}
	p.events++
	return ev
}

func idTypeByName(s string) idType {
	for i, n := range idTypeName {
		if n == s {
			return idType(i)
		}
	}
	return numIDTypes
}

// channelWeights is the persona's channel mix for filler events.
func (p *person) channelWeights() [numChannels]float64 {
	switch p.kind {
	case anonBrowser:
		return [numChannels]float64{1, 0, 0, 0}
	case webBuyer:
		return [numChannels]float64{0.75, 0, 0, 0.25}
	case storeMember:
		return [numChannels]float64{0, 0.75, 0, 0.25}
	case omnichannel:
		return [numChannels]float64{0.35, 0.25, 0.12, 0.28}
	default: // complainer
		if p.storeSide {
			return [numChannels]float64{0, 0.35, 0.45, 0.2}
		}
		return [numChannels]float64{0.35, 0, 0.45, 0.2}
	}
}

func (p *person) eligible(c channel) bool {
	switch c {
	case chWeb:
		return p.shown(idCookie) || p.shown(idDevice)
	case chStore:
		return p.shown(idLoyalty) || p.shown(idPhone)
	case chCallcentre:
		return p.shown(idPhone) || p.shown(idCRM)
	default:
		return p.shown(idEmail)
	}
}

func (g *Generator) filler(p *person) event {
	w := p.channelWeights()
	sum := 0.0
	for c := range w {
		if w[c] > 0 && p.eligible(channel(c)) {
			sum += w[c]
		} else {
			w[c] = 0
		}
	}
	ch := channel(0)
	if sum == 0 {
		// Unreachable by construction (the first step's channel is in the persona's mix);
		// any channel the person can be seen on keeps the invariant.
		for ch = 0; ch < numChannels-1 && !p.eligible(ch); ch++ {
		}
	} else {
		x := g.rng.Float64() * sum
		for ch = 0; ch < numChannels-1 && (w[ch] == 0 || x >= w[ch]); ch++ {
			x -= w[ch]
		}
	}
	ev := event{ch: ch, store: -1, junk: -1}
	switch ch {
	case chWeb:
		g.webFiller(p, &ev)
	case chStore:
		g.storeFiller(p, &ev)
	case chCallcentre:
		g.callFiller(p, &ev)
	default:
		g.emailFiller(p, &ev)
	}
	return ev
}

// pick returns a random already-shown value of the type.
func (g *Generator) pick(p *person, t idType) idRef {
	m := p.intro[t]
	k := g.rng.IntN(popcount8(m))
	for i := uint8(0); ; i++ {
		if m&(1<<i) != 0 {
			if k == 0 {
				return idRef{t, i}
			}
			k--
		}
	}
}

func popcount8(m uint8) int {
	n := 0
	for ; m != 0; m &= m - 1 {
		n++
	}
	return n
}

// webFiller walks a small funnel: browse → product → cart → checkout → purchase, with drop-offs
// (abandoned carts are what the cart_abandoned rule is for). Only logged-in persons check out.
func (g *Generator) webFiller(p *person, ev *event) {
	r := g.rng
	if p.shown(idDevice) && (!p.shown(idCookie) || r.Float64() < 0.3) {
		ev.add(g.pick(p, idDevice)) // mobile app session
	} else {
		ev.add(g.pick(p, idCookie))
	}
	loggedIn := p.shown(idUser) && r.Float64() < 0.7
	if loggedIn {
		ev.add(usr)
		if r.Float64() < 0.04 {
			ev.typ = evLogin
			return
		}
	}
	x := r.Float64()
	switch p.webStage {
	case 0:
		switch {
		case x < 0.55:
			ev.typ = evPageView
		case x < 0.92:
			ev.typ, p.webStage = evProductView, 1
		default:
			ev.typ = evAddToCart
		}
	case 1:
		switch {
		case x < 0.3:
			ev.typ, p.webStage = evPageView, 0
		case x < 0.65:
			ev.typ = evProductView
		default:
			ev.typ = evAddToCart
		}
	case 2:
		switch {
		case loggedIn && x < 0.55:
			ev.typ, p.webStage = evCheckout, 3
		case x < 0.8:
			ev.typ = evAddToCart
		default:
			ev.typ, p.webStage = evPageView, 0 // leaves the cart behind
		}
	default:
		if loggedIn && x < 0.75 {
			ev.typ = evPurchase
		} else {
			ev.typ, p.webStage = evPageView, 0
		}
	}
	if (ev.typ == evCheckout || ev.typ == evPurchase) && p.shown(idEmail) && r.Float64() < 0.5 {
		ev.add(g.pick(p, idEmail))
	}
}

func (g *Generator) storeFiller(p *person, ev *event) {
	r := g.rng
	ev.typ = evPurchase
	switch {
	case p.shown(idLoyalty) && p.shown(idPhone):
		x := r.Float64()
		if x < 0.8 {
			ev.add(loy)
		}
		if x >= 0.5 {
			ev.add(g.pick(p, idPhone))
		}
	case p.shown(idLoyalty):
		ev.add(loy)
	default:
		ev.add(g.pick(p, idPhone))
	}
	if p.shown(idEmail) && r.Float64() < 0.15 && ev.n < 3 {
		ev.add(g.pick(p, idEmail))
	}
	ev.store = p.home
	if r.Float64() < 0.12 {
		ev.store = r.IntN(g.nStores)
	}
	if ev.store == p.home && p.home < g.nTablets && ev.n < 3 && r.Float64() < 0.3 {
		ev.tablet = true
	}
}

func (g *Generator) callFiller(p *person, ev *event) {
	r := g.rng
	switch {
	case p.shown(idPhone) && p.shown(idCRM):
		x := r.Float64()
		if x < 0.8 {
			ev.add(g.pick(p, idPhone))
		}
		if x >= 0.15 {
			ev.add(crm)
		}
	case p.shown(idPhone):
		ev.add(g.pick(p, idPhone)) // IVR call, no CRM match yet
	default:
		ev.add(crm)
	}
	x := r.Float64()
	if p.kind == complainer {
		switch {
		case x < 0.45:
			ev.typ = evCall
		case x < 0.8:
			ev.typ = evComplaint
		default:
			ev.typ = evSurvey
		}
		return
	}
	switch {
	case x < 0.75:
		ev.typ = evCall
	case x < 0.85:
		ev.typ = evComplaint
	default:
		ev.typ = evSurvey
	}
}

func (g *Generator) emailFiller(p *person, ev *event) {
	r := g.rng
	ev.add(g.pick(p, idEmail))
	survey := 0.05
	if p.kind == complainer {
		survey = 0.25
	}
	x := r.Float64()
	switch {
	case x < survey:
		ev.typ = evSurvey
	case x < 0.5:
		ev.typ = evEmailSent
	case x < 0.78:
		ev.typ = evEmailOpen
	default:
		ev.typ = evEmailClick
		if p.shown(idCookie) && r.Float64() < 0.5 {
			ev.add(g.pick(p, idCookie))
		}
	}
}

// commerce keeps cart and purchase amounts consistent: add_to_cart fills the cart, checkout shows
// it, a web purchase pays it.
func (g *Generator) commerce(p *person, ev *event) {
	r := g.rng
	switch ev.typ {
	case evAddToCart:
		ev.cents = lognormCents(r.NormFloat64(), 2.8, 0.7, 99, 50_000)
		ev.qty = 1 + b2i(r.Float64() < 0.2) + b2i(r.Float64() < 0.05)
		p.cart += ev.cents * int64(ev.qty)
		p.webStage = 2
	case evCheckout:
		if p.cart == 0 {
			p.cart = lognormCents(r.NormFloat64(), 3.6, 0.8, 199, 300_000)
		}
		ev.cents = p.cart
	case evPurchase:
		if ev.ch == chWeb {
			if p.cart == 0 {
				p.cart = lognormCents(r.NormFloat64(), 3.6, 0.8, 199, 300_000)
			}
			ev.cents, p.cart, p.webStage = p.cart, 0, 0
		} else {
			ev.cents = lognormCents(r.NormFloat64(), 3.5, 0.9, 99, 300_000)
			ev.qty = 1 + r.IntN(6)
		}
		p.purchases++
	}
}
