package oktasim

import (
	"fmt"
	"hash/fnv"
	"strings"
)

// userTextFields are the fields free-text search looks at.
var userTextFields = []string{"id", "firstName", "lastName", "displayName", "email", "login", "title", "department", "city"}

func getUser(d *directory, a args) (string, error) {
	ref, err := a.required("userId")
	if err != nil {
		return "", err
	}
	u, err := d.user(ref)
	if err != nil {
		return "", err
	}
	p := func(k string) string { return orNA(u.profile[k]) }
	var b strings.Builder
	fmt.Fprintf(&b, "• User Details:\n  ID: %s\n  Status: %s\n", u.id, u.status)
	fmt.Fprintf(&b, "\n- Account Dates:\n  Created: %s\n  Activated: %s\n  Last Login: %s\n  Last Updated: %s\n  Status Changed: %s\n  Password Changed: %s\n",
		orNA(stamp(u.created)), orNA(stamp(u.activated)), orNA(stamp(u.lastLogin)),
		orNA(stamp(u.lastUpdated)), orNA(stamp(u.statusChanged)), orNA(stamp(u.passwordChanged)))
	fmt.Fprintf(&b, "\n- Personal Information:\n  Login: %s\n  Email: %s\n  Secondary Email: %s\n  First Name: %s\n  Last Name: %s\n  Display Name: %s\n  Nickname: %s\n",
		p("login"), p("email"), p("secondEmail"), p("firstName"), p("lastName"), p("displayName"), p("nickName"))
	manager := p("manager")
	if id := u.profile["managerId"]; id != "" {
		manager += " (" + id + ")"
	}
	fmt.Fprintf(&b, "\n- Employment Details:\n  Organization: %s\n  Title: %s\n  Division: %s\n  Department: %s\n  Manager: %s\n  Employee Number: %s\n  User Type: %s\n  Cost Center: %s\n",
		p("organization"), p("title"), p("division"), p("department"), manager, p("employeeNumber"), p("userType"), p("costCenter"))
	fmt.Fprintf(&b, "\n- Contact Information:\n  Mobile Phone: %s\n  Primary Phone: %s\n", p("mobilePhone"), p("primaryPhone"))
	fmt.Fprintf(&b, "\n- Address:\n  Street: %s\n  City: %s\n  State: %s\n  Zip Code: %s\n  Country: %s\n",
		p("streetAddress"), p("city"), p("state"), p("zipCode"), p("countryCode"))
	fmt.Fprintf(&b, "\n- Preferences:\n  Preferred Language: %s\n  Profile URL: %s\n", p("preferredLanguage"), p("profileUrl"))
	fmt.Fprintf(&b, "\n- Groups:\n  %s\n", names(d.userGroups(u), func(g *group) string { return g.name + " (" + g.id + ")" }))
	fmt.Fprintf(&b, "\n- Applications:\n  %s", names(d.userApps(u), func(a *app) string { return a.label + " (" + a.id + ")" }))
	return b.String(), nil
}

// writeUser writes one entry of a user listing, as the real server does,
// with title and department added so that an agent can tell people apart.
func writeUser(b *strings.Builder, n int, u *user) {
	fmt.Fprintf(b, "\n%d. %s %s (%s)\n - ID: %s\n - Status: %s\n", n,
		u.profile["firstName"], u.profile["lastName"], orDefault(u.profile["email"], "No email"), u.id, u.status)
	if t, dep := u.profile["title"], u.profile["department"]; t != "" || dep != "" {
		fmt.Fprintf(b, " - Title: %s, Department: %s\n", orNA(t), orNA(dep))
	}
	fmt.Fprintf(b, " - Created: %s\n - Last Updated: %s\n", orNA(stamp(u.created)), orNA(stamp(u.lastUpdated)))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func listUsers(d *directory, a args) (string, error) {
	l, err := parseListing(a)
	if err != nil {
		return "", err
	}
	var candidates []*user
	for _, u := range d.sortedUsers() {
		// Like Okta, a plain listing leaves deactivated users out; a filter
		// or search can still find them.
		if l.unfiltered && u.status == statusDeprovisioned {
			continue
		}
		candidates = append(candidates, u)
	}
	users, next, err := apply(l, candidates, userTextFields)
	if err != nil {
		return "", err
	}
	if len(users) == 0 {
		return "No users found matching your criteria.", nil
	}
	var b strings.Builder
	b.WriteString("Users:\n")
	for i, u := range users {
		writeUser(&b, i+1, u)
	}
	writePageFooter(&b, "users", len(users), next, "Total users")
	return b.String(), nil
}

func findUsersByAttribute(d *directory, a args) (string, error) {
	attr, err := a.required("attribute")
	if err != nil {
		return "", err
	}
	op, err := a.str("operator")
	if err != nil {
		return "", err
	}
	switch op {
	case "":
		op = "eq"
	case "eq", "sw", "ew", "co", "pr":
	default:
		return "", fmt.Errorf(`operator must be one of eq, sw, ew, co or pr, not %q`, op)
	}
	value, err := a.str("value")
	if err == nil && op != "pr" && value == "" {
		err = fmt.Errorf("value is required unless operator is pr")
	}
	if err != nil {
		return "", err
	}
	inactive, err := a.boolean("includeInactive", false)
	if err != nil {
		return "", err
	}
	limit, err := a.limit()
	if err != nil {
		return "", err
	}
	var found []*user
	more := false
	for _, u := range d.sortedUsers() {
		if !inactive && (u.status == statusSuspended || u.status == statusDeprovisioned) {
			continue
		}
		if !compare(u.attr(attr), op, value) {
			continue
		}
		if len(found) == limit {
			more = true
			break
		}
		found = append(found, u)
	}
	query := fmt.Sprintf("%s %s %q", attr, op, value)
	if op == "pr" {
		query = attr + " pr"
	}
	scope := ""
	if !inactive {
		scope = " (suspended and deactivated users excluded; set includeInactive to include them)"
	}
	if len(found) == 0 {
		return fmt.Sprintf("No users found where %s%s.", query, scope), nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Found %s where %s%s:\n", plural(len(found), "user", "users"), query, scope)
	for i, u := range found {
		writeUser(&b, i+1, u)
		fmt.Fprintf(&b, " - %s: %s\n", attr, orNA(u.attr(attr)))
	}
	if more {
		fmt.Fprintf(&b, "\nShowing the first %d matches; raise limit (max 200) to see more.\n", limit)
	}
	return b.String(), nil
}

func createUser(d *directory, a args) (string, error) {
	profile := map[string]string{}
	for _, k := range []string{"firstName", "lastName", "email", "login"} {
		v, err := a.str(k)
		if err != nil {
			return "", err
		}
		profile[k] = strings.TrimSpace(v)
	}
	activate, err := a.boolean("activate", false)
	if err != nil {
		return "", err
	}
	u, err := d.createUser(profile, activate)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("User created successfully:\nID: %s\nLogin: %s\nStatus: %s\nCreated: %s",
		u.id, u.profile["login"], u.status, stamp(u.created)), nil
}

// lifecycle returns the tool for one status transition.
func lifecycle(op, done string) func(*directory, args) (string, error) {
	return func(d *directory, a args) (string, error) {
		ref, err := a.required("userId")
		if err != nil {
			return "", err
		}
		sendEmail := false
		if op == "activate" {
			if sendEmail, err = a.boolean("sendEmail", true); err != nil {
				return "", err
			}
		}
		u, err := d.user(ref)
		if err != nil {
			return "", err
		}
		if err := d.transition(u, op); err != nil {
			return "", err
		}
		msg := fmt.Sprintf("User with ID %s %s", u.id, done)
		if sendEmail {
			msg += " An activation email has been sent."
		}
		return msg, nil
	}
}

func deleteUser(d *directory, a args) (string, error) {
	ref, err := a.required("userId")
	if err != nil {
		return "", err
	}
	u, err := d.user(ref)
	if err != nil {
		return "", err
	}
	if err := d.deleteUser(u); err != nil {
		return "", err
	}
	return fmt.Sprintf("User with ID %s has been permanently deleted.", u.id), nil
}

// Login events are synthesized from the user's ID and profile, so that the
// same user always reports the same place.
var userAgents = []struct{ device, agent string }{
	{"Computer", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"},
	{"Computer", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"},
	{"Computer", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"},
	{"Mobile", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"},
}

var countries = map[string]string{"US": "United States", "GB": "United Kingdom", "CA": "Canada", "DE": "Germany"}

func getUserLastLocation(d *directory, a args) (string, error) {
	ref, err := a.required("userId")
	if err != nil {
		return "", err
	}
	u, err := d.user(ref)
	if err != nil {
		return "", err
	}
	login := u.profile["login"]
	if u.lastLogin.IsZero() {
		return fmt.Sprintf("No login events found for user %s in the last 90 days. This might mean the user hasn't logged in recently or the events are not being captured in the system logs.", login), nil
	}
	h := fnv.New64a()
	h.Write([]byte(u.id))
	x := splitmix(h.Sum64())
	ua := userAgents[x%uint64(len(userAgents))]
	// Documentation address ranges (RFC 5737): realistic, never routable.
	ip := fmt.Sprintf("203.0.113.%d", 1+(x>>8)%254)
	if (x>>16)%2 == 1 {
		ip = fmt.Sprintf("198.51.100.%d", 1+(x>>8)%254)
	}
	country := u.profile["countryCode"]
	if name, ok := countries[country]; ok {
		country = name
	}
	return fmt.Sprintf(`• Last Login Information for User %s:
  Time: %s
  Event Type: user.session.start
  IP Address: %s
  City: %s
  State: %s
  Country: %s
  Device: %s
  User Agent: %s`, login, stamp(u.lastLogin), ip, orNA(u.profile["city"]), orNA(u.profile["state"]), orNA(country), ua.device, ua.agent), nil
}
