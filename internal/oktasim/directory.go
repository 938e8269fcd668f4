package oktasim

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// User statuses, as Okta names them.
const (
	statusStaged        = "STAGED"
	statusProvisioned   = "PROVISIONED"
	statusActive        = "ACTIVE"
	statusSuspended     = "SUSPENDED"
	statusDeprovisioned = "DEPROVISIONED"
)

// Group types, as Okta names them.
const (
	groupOkta    = "OKTA_GROUP"
	groupBuiltIn = "BUILT_IN"
)

// timeFormat is how Okta's API writes timestamps.
const timeFormat = "2006-01-02T15:04:05.000Z"

type user struct {
	id     string
	seq    int
	status string

	created, activated, statusChanged, lastLogin, lastUpdated, passwordChanged time.Time

	// profile holds Okta profile attributes (login, email, firstName,
	// department, manager, ...) by their Okta names; a missing key and an
	// empty value both mean unset.
	profile map[string]string
}

type group struct {
	id          string
	seq         int
	typ         string
	name        string
	description string

	created, lastUpdated, lastMembershipUpdated time.Time

	members map[string]bool // user IDs
}

type app struct {
	id    string
	seq   int
	label string

	users map[string]bool // IDs of the users assigned to the app
}

func (u *user) ident() string  { return u.id }
func (g *group) ident() string { return g.id }
func (a *app) ident() string   { return a.id }

// directory is the organisation's state. It has no lock of its own: Sim.mu
// guards it, and every method assumes the caller holds that lock.
type directory struct {
	now    func() time.Time
	users  map[string]*user
	groups map[string]*group
	apps   map[string]*app
	seq    int            // creation order shared by all objects
	idSeq  map[string]int // per ID prefix, feeds newID
}

func newDirectory(now func() time.Time) *directory {
	return &directory{
		now:    now,
		users:  map[string]*user{},
		groups: map[string]*group{},
		apps:   map[string]*app{},
		idSeq:  map[string]int{},
	}
}

// idAlphabet is the character set of Okta object IDs.
const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newID returns an Okta-shaped ID (prefix plus 17 characters, 20 in all, like
// 00ub0oNGTSWTBKOLGLNR) derived from a counter, so IDs look opaque but are
// the same on every run.
func (d *directory) newID(prefix string) string {
	for {
		d.idSeq[prefix]++
		x := uint64(d.idSeq[prefix])
		for _, c := range prefix {
			x = x*131 + uint64(c)
		}
		var b strings.Builder
		b.WriteString(prefix)
		// Ten base-62 digits use 60 bits of a word, so draw two words.
		hi := splitmix(x)
		lo := splitmix(hi)
		for i := range 17 {
			h := &hi
			if i >= 10 {
				h = &lo
			}
			b.WriteByte(idAlphabet[*h%62])
			*h /= 62
		}
		id := b.String()
		if d.users[id] == nil && d.groups[id] == nil && d.apps[id] == nil {
			return id
		}
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (d *directory) nextSeq() int {
	d.seq++
	return d.seq
}

func bySeq[T interface{ getSeq() int }](m map[string]T) []T {
	out := make([]T, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b T) int { return a.getSeq() - b.getSeq() })
	return out
}

func (u *user) getSeq() int  { return u.seq }
func (g *group) getSeq() int { return g.seq }
func (a *app) getSeq() int   { return a.seq }

func (d *directory) sortedUsers() []*user   { return bySeq(d.users) }
func (d *directory) sortedGroups() []*group { return bySeq(d.groups) }
func (d *directory) sortedApps() []*app     { return bySeq(d.apps) }

// user finds a user by ID or, as Okta's GET /users/{id} also allows, by
// login (without regard to case).
func (d *directory) user(ref string) (*user, error) {
	if u, ok := d.users[ref]; ok {
		return u, nil
	}
	for _, u := range d.users {
		if strings.EqualFold(u.profile["login"], ref) {
			return u, nil
		}
	}
	return nil, fmt.Errorf("user %q not found", ref)
}

func (d *directory) group(id string) (*group, error) {
	if g, ok := d.groups[id]; ok {
		return g, nil
	}
	return nil, fmt.Errorf("group %q not found", id)
}

func (d *directory) app(id string) (*app, error) {
	if a, ok := d.apps[id]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("application %q not found", id)
}

func (d *directory) everyone() *group {
	for _, g := range d.groups {
		if g.typ == groupBuiltIn {
			return g
		}
	}
	return nil
}

// createUser adds a user with the given profile; login defaults to email.
// The user is STAGED, or ACTIVE when activate is set.
func (d *directory) createUser(profile map[string]string, activate bool) (*user, error) {
	for _, k := range []string{"firstName", "lastName", "email"} {
		if strings.TrimSpace(profile[k]) == "" {
			return nil, fmt.Errorf("%s is required", k)
		}
	}
	if !validEmail(profile["email"]) {
		return nil, fmt.Errorf("email %q is not a valid email address", profile["email"])
	}
	if profile["login"] == "" {
		profile["login"] = profile["email"]
	}
	if _, err := d.user(profile["login"]); err == nil {
		return nil, fmt.Errorf("login %q already exists in this organization", profile["login"])
	}
	if profile["displayName"] == "" {
		profile["displayName"] = profile["firstName"] + " " + profile["lastName"]
	}
	t := d.now()
	u := &user{
		id:            d.newID("00u"),
		seq:           d.nextSeq(),
		status:        statusStaged,
		created:       t,
		statusChanged: t,
		lastUpdated:   t,
		profile:       profile,
	}
	if activate {
		u.status = statusActive
		u.activated = t
		u.passwordChanged = t
	}
	d.users[u.id] = u
	if g := d.everyone(); g != nil {
		g.members[u.id] = true
		g.lastMembershipUpdated = t
	}
	return u, nil
}

func validEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && !strings.ContainsAny(s, " \t\r\n,;<>") &&
		!strings.Contains(domain, "@") && strings.Contains(domain, ".") &&
		!strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

// A transition is one lifecycle operation: the statuses it starts from and
// the status it leaves.
type transition struct {
	from []string
	to   string
	done string // the operation in the past tense, for messages
}

var transitions = map[string]transition{
	"activate":   {[]string{statusStaged, statusProvisioned, statusDeprovisioned}, statusActive, "activated"},
	"suspend":    {[]string{statusActive}, statusSuspended, "suspended"},
	"unsuspend":  {[]string{statusSuspended}, statusActive, "unsuspended"},
	"deactivate": {[]string{statusStaged, statusProvisioned, statusActive, statusSuspended}, statusDeprovisioned, "deactivated"},
}

// transition moves u through the named lifecycle operation, or explains why
// its current status does not allow it.
func (d *directory) transition(u *user, op string) error {
	tr := transitions[op]
	if !slices.Contains(tr.from, u.status) {
		return fmt.Errorf("cannot %s user %s: status is %s; only %s users can be %s",
			op, u.id, u.status, orList(tr.from), tr.done)
	}
	t := d.now()
	u.status = tr.to
	u.statusChanged = t
	u.lastUpdated = t
	if op == "activate" {
		u.activated = t
	}
	return nil
}

func orList(xs []string) string {
	switch len(xs) {
	case 0:
		return ""
	case 1:
		return xs[0]
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// deleteUser removes a deactivated user with its memberships and
// assignments; Okta refuses to delete users in any other status.
func (d *directory) deleteUser(u *user) error {
	if u.status != statusDeprovisioned {
		return fmt.Errorf("user %s is %s; deactivate the user before deleting it", u.id, u.status)
	}
	t := d.now()
	for _, g := range d.groups {
		if g.members[u.id] {
			delete(g.members, u.id)
			g.lastMembershipUpdated = t
		}
	}
	for _, a := range d.apps {
		delete(a.users, u.id)
	}
	delete(d.users, u.id)
	return nil
}

func (d *directory) createGroup(name, description string) (*group, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, errors.New("name is required")
	}
	for _, g := range d.groups {
		if strings.EqualFold(g.name, name) {
			return nil, fmt.Errorf("a group named %q already exists (%s)", g.name, g.id)
		}
	}
	t := d.now()
	g := &group{
		id:                    d.newID("00g"),
		seq:                   d.nextSeq(),
		typ:                   groupOkta,
		name:                  name,
		description:           description,
		created:               t,
		lastUpdated:           t,
		lastMembershipUpdated: t,
		members:               map[string]bool{},
	}
	d.groups[g.id] = g
	return g, nil
}

func (d *directory) deleteGroup(g *group) error {
	if g.typ == groupBuiltIn {
		return fmt.Errorf("group %s (%s) is built in and cannot be deleted", g.id, g.name)
	}
	delete(d.groups, g.id)
	return nil
}

// managed refuses changes to the membership of built-in groups, which Okta
// keeps itself.
func (g *group) managed() error {
	if g.typ == groupBuiltIn {
		return fmt.Errorf("membership of built-in group %s (%s) is managed by Okta", g.id, g.name)
	}
	return nil
}

// setMember adds u to or removes u from g and reports whether anything
// changed. Callers check g.managed first.
func (d *directory) setMember(g *group, u *user, member bool) bool {
	if g.members[u.id] == member {
		return false
	}
	if member {
		g.members[u.id] = true
	} else {
		delete(g.members, u.id)
	}
	g.lastMembershipUpdated = d.now()
	return true
}

// assign gives u access to a and reports whether the assignment is new.
func (d *directory) assign(a *app, u *user) bool {
	if a.users[u.id] {
		return false
	}
	a.users[u.id] = true
	return true
}

func (d *directory) userGroups(u *user) []*group {
	var out []*group
	for _, g := range d.sortedGroups() {
		if g.members[u.id] {
			out = append(out, g)
		}
	}
	return out
}

func (d *directory) userApps(u *user) []*app {
	var out []*app
	for _, a := range d.sortedApps() {
		if a.users[u.id] {
			out = append(out, a)
		}
	}
	return out
}

// Top-level user and group attributes, as SCIM filters and sortBy name them.
func (u *user) attr(name string) string {
	switch name {
	case "id":
		return u.id
	case "status":
		return u.status
	case "created":
		return stamp(u.created)
	case "activated":
		return stamp(u.activated)
	case "statusChanged":
		return stamp(u.statusChanged)
	case "lastLogin":
		return stamp(u.lastLogin)
	case "lastUpdated":
		return stamp(u.lastUpdated)
	case "passwordChanged":
		return stamp(u.passwordChanged)
	}
	return profileValue(u.profile, strings.TrimPrefix(name, "profile."))
}

// profileValue looks a profile attribute up by name; like SCIM, it ignores
// case in the name.
func profileValue(p map[string]string, name string) string {
	if v, ok := p[name]; ok {
		return v
	}
	for k, v := range p {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (g *group) attr(name string) string {
	switch name {
	case "id":
		return g.id
	case "type":
		return g.typ
	case "created":
		return stamp(g.created)
	case "lastUpdated":
		return stamp(g.lastUpdated)
	case "lastMembershipUpdated":
		return stamp(g.lastMembershipUpdated)
	}
	switch strings.ToLower(strings.TrimPrefix(name, "profile.")) {
	case "name":
		return g.name
	case "description":
		return g.description
	}
	return ""
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}
