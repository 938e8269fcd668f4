package oktasim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The bulk tools check every ID they are given before changing anything, so
// a call with a bad reference fails whole and leaves the directory as it
// was. Per-row problems in CSV data (a missing email, a duplicate login) are
// reported row by row, as the real server does; such a call is an error
// only when no row succeeded.

// profileAttrs are the Okta profile attributes a CSV header may name; a
// header matches ignoring case, spaces, '_' and '-', so "First Name" is
// firstName. Other columns are kept as custom attributes under their own
// names.
var profileAttrs = []string{
	"login", "email", "secondEmail", "firstName", "lastName", "displayName", "nickName",
	"title", "department", "division", "organization", "employeeNumber", "costCenter",
	"userType", "manager", "managerId", "mobilePhone", "primaryPhone", "streetAddress",
	"city", "state", "zipCode", "countryCode", "preferredLanguage",
}

func headerKey(h string) string {
	h = strings.TrimSpace(h)
	norm := strings.NewReplacer(" ", "", "_", "", "-", "").Replace(strings.ToLower(h))
	for _, k := range profileAttrs {
		if strings.ToLower(k) == norm {
			return k
		}
	}
	return h
}

// parseCSV reads user rows, each a profile with only non-blank values.
func parseCSV(data string) ([]map[string]string, error) {
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(data, "\ufeff")))
	r.TrimLeadingSpace = true
	recs, err := r.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("invalid CSV: %w", err)
	}
	if len(recs) == 0 {
		return nil, errors.New("CSV data is empty; a header row is required")
	}
	header := make([]string, len(recs[0]))
	seen := map[string]bool{}
	for i, h := range recs[0] {
		k := headerKey(h)
		if k == "" {
			return nil, fmt.Errorf("CSV header column %d is empty", i+1)
		}
		if seen[k] {
			return nil, fmt.Errorf("CSV header names %s twice", k)
		}
		seen[k] = true
		header[i] = k
	}
	if !seen["firstName"] || !seen["lastName"] || !seen["email"] {
		return nil, fmt.Errorf("CSV header must include firstName, lastName and email columns; got %s", strings.Join(recs[0], ", "))
	}
	if len(recs) == 1 {
		return nil, errors.New("no valid users found in CSV data: there is a header row but no user rows")
	}
	rows := make([]map[string]string, 0, len(recs)-1)
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, v := range rec {
			if v = strings.TrimSpace(v); v != "" {
				row[header[i]] = v
			}
		}
		rows = append(rows, row)
	}
	return rows, nil
}

type rowFailure struct{ email, reason string }

type importResult struct {
	created []*user
	failed  []rowFailure
}

// importUsers creates a user for each row and adds it to groups.
func (d *directory) importUsers(rows []map[string]string, activate bool, groups []*group) importResult {
	var res importResult
	for _, row := range rows {
		u, err := d.createUser(maps.Clone(row), activate)
		if err != nil {
			res.failed = append(res.failed, rowFailure{orDefault(row["email"], "Missing email"), err.Error()})
			continue
		}
		for _, g := range groups {
			d.setMember(g, u, true)
		}
		res.created = append(res.created, u)
	}
	return res
}

func (r importResult) write(b *strings.Builder, rows int) {
	fmt.Fprintf(b, "Processed %d users from CSV data:\n- Successfully created: %d\n- Failed: %d\n", rows, len(r.created), len(r.failed))
	if len(r.created) > 0 {
		b.WriteString("\n• Successfully created users:\n")
		for i, u := range r.created {
			fmt.Fprintf(b, "%d. %s (ID: %s, Status: %s)\n", i+1, u.profile["email"], u.id, u.status)
		}
	}
	if len(r.failed) > 0 {
		b.WriteString("\n• Failed users:\n")
		for i, f := range r.failed {
			fmt.Fprintf(b, "%d. %s - %s\n", i+1, f.email, f.reason)
		}
	}
}

// memberGroups resolves group IDs that users may be added to.
func (d *directory) memberGroups(ids []string) ([]*group, error) {
	var out []*group
	var bad []string
	for _, id := range ids {
		g, err := d.group(id)
		if err == nil {
			err = g.managed()
		}
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, g)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%s; nothing was changed", strings.Join(bad, "; "))
	}
	return out, nil
}

// usersFor resolves user IDs for a bulk change; deactivated users are
// refused when active is set.
func (d *directory) usersFor(ids []string, active bool) ([]*user, error) {
	var out []*user
	var bad []string
	for _, id := range ids {
		u, err := d.user(id)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%q (not found)", id))
		case active && u.status == statusDeprovisioned:
			bad = append(bad, fmt.Sprintf("%q (deactivated)", id))
		default:
			out = append(out, u)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("invalid user %s; nothing was changed", strings.Join(bad, ", "))
	}
	return out, nil
}

func (d *directory) appsFor(ids []string) ([]*app, error) {
	var out []*app
	var bad []string
	for _, id := range ids {
		a, err := d.app(id)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q", id))
			continue
		}
		out = append(out, a)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("application %s not found; nothing was changed", strings.Join(bad, ", "))
	}
	return out, nil
}

// mappedGroups checks an attribute mapping's group IDs.
func (d *directory) mappedGroups(m map[string]map[string]string) error {
	var ids []string
	for _, attr := range slices.Sorted(maps.Keys(m)) {
		for _, v := range slices.Sorted(maps.Keys(m[attr])) {
			ids = append(ids, m[attr][v])
		}
	}
	_, err := d.memberGroups(ids)
	return err
}

func bulkUserImport(d *directory, a args) (string, error) {
	data, err := a.required("csvData")
	if err != nil {
		return "", err
	}
	activate, err := a.boolean("activateUsers", false)
	if err != nil {
		return "", err
	}
	if _, err := a.boolean("sendEmail", true); err != nil {
		return "", err
	}
	groupIDs, err := a.list("defaultGroups", false)
	if err != nil {
		return "", err
	}
	groups, err := d.memberGroups(groupIDs)
	if err != nil {
		return "", err
	}
	rows, err := parseCSV(data)
	if err != nil {
		return "", err
	}
	res := d.importUsers(rows, activate, groups)
	var b strings.Builder
	res.write(&b, len(rows))
	if len(groups) > 0 && len(res.created) > 0 {
		fmt.Fprintf(&b, "\nCreated users were added to: %s\n", names(groups, func(g *group) string { return g.name + " (" + g.id + ")" }))
	}
	if len(res.created) == 0 {
		return "", fmt.Errorf("no users were created\n\n%s", b.String())
	}
	return b.String(), nil
}

// groupAssignment is what assignByAttributes did for one user.
type groupAssignment struct {
	user   *user
	groups []*group
	added  int
}

// assignByAttributes adds each user to the groups its attributes map to
// (mapping: attribute → value → group ID). Values match exactly, as in the
// real server, and failing that without regard to case.
func (d *directory) assignByAttributes(users []*user, mapping map[string]map[string]string) []groupAssignment {
	out := make([]groupAssignment, 0, len(users))
	for _, u := range users {
		ga := groupAssignment{user: u}
		for _, attr := range slices.Sorted(maps.Keys(mapping)) {
			have := u.attr(attr)
			if have == "" {
				continue
			}
			id, ok := mapping[attr][have]
			if !ok {
				for _, v := range slices.Sorted(maps.Keys(mapping[attr])) {
					if strings.EqualFold(v, have) {
						id, ok = mapping[attr][v], true
						break
					}
				}
			}
			if !ok {
				continue
			}
			g := d.groups[id] // checked by mappedGroups
			if slices.Contains(ga.groups, g) {
				continue
			}
			if d.setMember(g, u, true) {
				ga.added++
			}
			ga.groups = append(ga.groups, g)
		}
		out = append(out, ga)
	}
	return out
}

func writeGroupAssignments(b *strings.Builder, gas []groupAssignment) (assigned int) {
	added := 0
	for _, ga := range gas {
		if len(ga.groups) > 0 {
			assigned++
		}
		added += ga.added
	}
	fmt.Fprintf(b, "- Users assigned to groups: %d\n- Users with no matching group mapping: %d\n- New memberships: %d\n",
		assigned, len(gas)-assigned, added)
	b.WriteString("\n• Assignments:\n")
	for i, ga := range gas {
		what := "no group mappings matched user attributes"
		if len(ga.groups) > 0 {
			what = "assigned to " + names(ga.groups, func(g *group) string { return g.name })
		}
		fmt.Fprintf(b, "%d. %s (%s)\n", i+1, orDefault(ga.user.profile["email"], ga.user.id), what)
	}
	return assigned
}

func assignUsersToGroups(d *directory, a args) (string, error) {
	ids, err := a.list("userIds", true)
	if err != nil {
		return "", err
	}
	mapping, err := a.mapping("attributeMapping")
	if err != nil {
		return "", err
	}
	if len(mapping) == 0 {
		return "", errors.New(`attributeMapping must map at least one attribute, e.g. {"department": {"Engineering": "00g..."}}`)
	}
	users, err := d.usersFor(ids, false)
	if err != nil {
		return "", err
	}
	if err := d.mappedGroups(mapping); err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Processed group assignments for %d users:\n", len(users))
	writeGroupAssignments(&b, d.assignByAttributes(users, mapping))
	return b.String(), nil
}

// provision assigns every application to every user and reports how many
// assignments were new.
func (d *directory) provision(users []*user, apps []*app) (added int) {
	for _, u := range users {
		for _, a := range apps {
			if d.assign(a, u) {
				added++
			}
		}
	}
	return added
}

func provisionApplications(d *directory, a args) (string, error) {
	userIDs, err := a.list("userIds", true)
	if err != nil {
		return "", err
	}
	appIDs, err := a.list("applicationIds", true)
	if err != nil {
		return "", err
	}
	users, err := d.usersFor(userIDs, true)
	if err != nil {
		return "", err
	}
	apps, err := d.appsFor(appIDs)
	if err != nil {
		return "", err
	}
	added := d.provision(users, apps)
	total := len(users) * len(apps)
	var b strings.Builder
	fmt.Fprintf(&b, "Processed application provisioning for %d users across %d applications:\n", len(users), len(apps))
	fmt.Fprintf(&b, "- Successful provisioning: %d users\n- Failed provisioning: 0 users\n", len(users))
	fmt.Fprintf(&b, "- Assignments: %d (new: %d, already assigned: %d)\n", total, added, total-added)
	fmt.Fprintf(&b, "- Applications: %s\n", names(apps, func(a *app) string { return a.label + " (" + a.id + ")" }))
	b.WriteString("\n• Successfully provisioned users:\n")
	for i, u := range users {
		fmt.Fprintf(&b, "%d. %s (provisioned %s)\n", i+1, orDefault(u.profile["email"], u.id), plural(len(apps), "application", "applications"))
	}
	return b.String(), nil
}

func runOnboardingWorkflow(d *directory, a args) (string, error) {
	data, err := a.required("csvData")
	if err != nil {
		return "", err
	}
	activate, err := a.boolean("activateUsers", true)
	if err != nil {
		return "", err
	}
	if _, err := a.boolean("sendWelcomeEmail", true); err != nil {
		return "", err
	}
	groupIDs, err := a.list("defaultGroups", false)
	if err != nil {
		return "", err
	}
	mapping, err := a.mapping("groupMappings")
	if err != nil {
		return "", err
	}
	appIDs, err := a.list("applicationIds", false)
	if err != nil {
		return "", err
	}
	groups, err := d.memberGroups(groupIDs)
	if err != nil {
		return "", err
	}
	if err := d.mappedGroups(mapping); err != nil {
		return "", err
	}
	apps, err := d.appsFor(appIDs)
	if err != nil {
		return "", err
	}
	rows, err := parseCSV(data)
	if err != nil {
		return "", err
	}

	res := d.importUsers(rows, activate, groups)
	var b strings.Builder
	b.WriteString("Onboarding Workflow Complete:\n\n- User Import:\n")
	res.write(&b, len(rows))
	if len(res.created) == 0 {
		return "", fmt.Errorf("no users were successfully created during the onboarding workflow\n\n%s", b.String())
	}
	if len(groups) > 0 {
		fmt.Fprintf(&b, "\nCreated users were added to: %s\n", names(groups, func(g *group) string { return g.name + " (" + g.id + ")" }))
	}
	b.WriteString("\n")
	if len(mapping) > 0 {
		b.WriteString("• Group Assignment:\n")
		writeGroupAssignments(&b, d.assignByAttributes(res.created, mapping))
	} else {
		b.WriteString("• Group Assignment: Not configured\n")
	}
	b.WriteString("\n")
	if len(apps) > 0 {
		added := d.provision(res.created, apps)
		fmt.Fprintf(&b, "• Application Provisioning:\n  - Users provisioned with applications: %d\n  - New assignments: %d\n  - Applications: %s\n",
			len(res.created), added, names(apps, func(a *app) string { return a.label + " (" + a.id + ")" }))
	} else {
		b.WriteString("• Application Provisioning: Not configured\n")
	}
	how := "default groups only"
	if len(mapping) > 0 {
		how = "attribute-based group assignment"
	}
	prov := "no application provisioning"
	if len(apps) > 0 {
		prov = "application provisioning"
	}
	fmt.Fprintf(&b, "\nOverall, successfully onboarded %d out of %d users with %s and %s.", len(res.created), len(rows), how, prov)
	return b.String(), nil
}
