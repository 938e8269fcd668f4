package oktasim

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// A tool is one simulated tool's behaviour. run reads and changes the
// directory (the caller holds Sim.mu) and returns the text the agent sees;
// an error becomes an IsError result reading "Failed to <action>: <error>",
// the real server's wording.
type tool struct {
	action string
	run    func(*directory, args) (string, error)
}

// tools implements every tool of the catalog, by name.
var tools = map[string]tool{
	"get_user":                {"get user", getUser},
	"find_users_by_attribute": {"find users", findUsersByAttribute},
	"list_users":              {"list users", listUsers},
	"create_user":             {"create user", createUser},
	"activate_user":           {"activate user", lifecycle("activate", "has been activated successfully.")},
	"suspend_user":            {"suspend user", lifecycle("suspend", "has been suspended.")},
	"unsuspend_user":          {"unsuspend user", lifecycle("unsuspend", "has been unsuspended and is now active.")},
	"deactivate_user":         {"deactivate user", lifecycle("deactivate", "has been deactivated.")},
	"delete_user":             {"delete user", deleteUser},
	"get_user_last_location":  {"fetch user location", getUserLastLocation},
	"list_groups":             {"list groups", listGroups},
	"create_group":            {"create group", createGroup},
	"get_group":               {"get group", getGroup},
	"delete_group":            {"delete group", deleteGroup},
	"assign_user_to_group":    {"assign user to group", assignUserToGroup},
	"remove_user_from_group":  {"remove user from group", removeUserFromGroup},
	"list_group_users":        {"list group users", listGroupUsers},
	"bulk_user_import":        {"import users", bulkUserImport},
	"assign_users_to_groups":  {"assign users to groups", assignUsersToGroups},
	"provision_applications":  {"provision applications", provisionApplications},
	"run_onboarding_workflow": {"complete onboarding workflow", runOnboardingWorkflow},
}

// object is what listings sort and page: users and groups.
type object interface {
	ident() string
	attr(name string) string
}

// listing holds the arguments shared by list_users and list_groups.
type listing struct {
	filter     filter // nil: no filter
	search     string // free text, or "" when search was a SCIM filter
	sortBy     string
	desc       bool
	after      string
	limit      int
	unfiltered bool // neither filter nor search was given
}

func parseListing(a args) (listing, error) {
	var l listing
	var err error
	if l.limit, err = a.limit(); err != nil {
		return l, err
	}
	var f, search, order string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"filter", &f}, {"search", &search}, {"sortBy", &l.sortBy}, {"sortOrder", &order}, {"after", &l.after}} {
		if *p.dst, err = a.str(p.name); err != nil {
			return l, err
		}
	}
	switch order {
	case "", "asc":
	case "desc":
		l.desc = true
	default:
		return l, fmt.Errorf(`sortOrder must be "asc" or "desc", not %q`, order)
	}
	l.unfiltered = strings.TrimSpace(f) == "" && strings.TrimSpace(search) == ""
	if strings.TrimSpace(f) != "" {
		if l.filter, err = parseFilter(f); err != nil {
			return l, err
		}
	}
	if strings.TrimSpace(search) != "" {
		// Okta's search parameter takes a SCIM expression; the tool
		// describes it as free text. Accept both.
		if sf, err := parseFilter(search); err == nil {
			if l.filter == nil {
				l.filter = sf
			} else {
				l.filter = andFilter{l.filter, sf}
			}
		} else {
			l.search = search
		}
	}
	return l, nil
}

// apply filters, sorts and pages items (in creation order on entry) and
// returns the page and the cursor for the next one ("" on the last page).
func apply[T object](l listing, items []T, textFields []string) ([]T, string, error) {
	var out []T
	for _, x := range items {
		if l.filter != nil && !l.filter.match(x.attr) {
			continue
		}
		if l.search != "" && !textMatch(x, textFields, l.search) {
			continue
		}
		out = append(out, x)
	}
	if l.sortBy != "" {
		slices.SortStableFunc(out, func(a, b T) int {
			c := cmp.Compare(strings.ToLower(a.attr(l.sortBy)), strings.ToLower(b.attr(l.sortBy)))
			if l.desc {
				c = -c
			}
			return c
		})
	} else if l.desc {
		slices.Reverse(out)
	}
	return page(out, l.after, l.limit)
}

// textMatch reports whether every word of q occurs, ignoring case, in one
// of x's fields.
func textMatch[T object](x T, fields []string, q string) bool {
	for _, w := range strings.Fields(strings.ToLower(q)) {
		found := false
		for _, f := range fields {
			if strings.Contains(strings.ToLower(x.attr(f)), w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// page returns up to limit items after the one whose ID is after, Okta's
// cursor, and the cursor for the next page.
func page[T object](items []T, after string, limit int) ([]T, string, error) {
	start := 0
	if after != "" {
		i := slices.IndexFunc(items, func(x T) bool { return x.ident() == after })
		if i < 0 {
			return nil, "", fmt.Errorf("the after cursor %q is not in this result set; list again without after", after)
		}
		start = i + 1
	}
	end := min(start+limit, len(items))
	next := ""
	if end < len(items) {
		next = items[end-1].ident()
	}
	return items[start:end], next, nil
}

// writePageFooter ends a listing the way the real server does.
func writePageFooter(b *strings.Builder, noun string, shown int, next, totalLabel string) {
	if next != "" {
		fmt.Fprintf(b, "\nPagination:\n- Total %s shown: %d\n- For next page, use 'after' parameter with value: %s\n", noun, shown, next)
		return
	}
	fmt.Fprintf(b, "\n%s: %d\n", totalLabel, shown)
}

func orNA(s string) string {
	if s == "" {
		return "N/A"
	}
	return s
}

// names lists objects as "Name (id), Name (id)", or "None".
func names[T any](xs []T, f func(T) string) string {
	if len(xs) == 0 {
		return "None"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = f(x)
	}
	return strings.Join(parts, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
