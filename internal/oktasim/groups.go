package oktasim

import (
	"fmt"
	"strings"
)

var groupTextFields = []string{"id", "name", "description"}

func listGroups(d *directory, a args) (string, error) {
	l, err := parseListing(a)
	if err != nil {
		return "", err
	}
	groups, next, err := apply(l, d.sortedGroups(), groupTextFields)
	if err != nil {
		return "", err
	}
	if len(groups) == 0 {
		return "No groups found matching your criteria.", nil
	}
	var b strings.Builder
	b.WriteString("Groups:\n")
	for i, g := range groups {
		fmt.Fprintf(&b, "\n%d. %s\n   - ID: %s\n   - Type: %s\n   - Object Class: okta:user_group\n   - Description: %s\n   - Members: %d\n   - Created: %s\n   - Last Updated: %s\n   - Last Membership Updated: %s\n",
			i+1, g.name, g.id, g.typ, orDefault(g.description, "No description"), len(g.members),
			stamp(g.created), stamp(g.lastUpdated), stamp(g.lastMembershipUpdated))
	}
	writePageFooter(&b, "groups", len(groups), next, "Total groups")
	return b.String(), nil
}

func createGroup(d *directory, a args) (string, error) {
	name, err := a.required("name")
	if err != nil {
		return "", err
	}
	desc, err := a.str("description")
	if err != nil {
		return "", err
	}
	g, err := d.createGroup(name, desc)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Group created successfully:\nID: %s\nName: %s\nType: %s\nCreated: %s", g.id, g.name, g.typ, stamp(g.created)), nil
}

func getGroup(d *directory, a args) (string, error) {
	g, err := groupArg(d, a)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Group Details:\n- ID: %s\n- Name: %s\n- Description: %s\n- Type: %s\n- Object Class: okta:user_group\n- Members: %d\n- Created: %s\n- Last Updated: %s\n- Last Membership Updated: %s",
		g.id, g.name, orNA(g.description), g.typ, len(g.members),
		stamp(g.created), stamp(g.lastUpdated), stamp(g.lastMembershipUpdated)), nil
}

func deleteGroup(d *directory, a args) (string, error) {
	g, err := groupArg(d, a)
	if err != nil {
		return "", err
	}
	if err := d.deleteGroup(g); err != nil {
		return "", err
	}
	return fmt.Sprintf("Group with ID %s has been successfully deleted.", g.id), nil
}

func assignUserToGroup(d *directory, a args) (string, error) {
	return membership(d, a, true)
}

func removeUserFromGroup(d *directory, a args) (string, error) {
	return membership(d, a, false)
}

func membership(d *directory, a args, member bool) (string, error) {
	g, err := groupArg(d, a)
	if err != nil {
		return "", err
	}
	ref, err := a.required("userId")
	if err != nil {
		return "", err
	}
	u, err := d.user(ref)
	if err != nil {
		return "", err
	}
	if err := g.managed(); err != nil {
		return "", err
	}
	changed := d.setMember(g, u, member)
	switch {
	case member && changed:
		return fmt.Sprintf("User with ID %s has been successfully assigned to group with ID %s.", u.id, g.id), nil
	case member:
		return fmt.Sprintf("User with ID %s is already a member of group with ID %s; nothing changed.", u.id, g.id), nil
	case changed:
		return fmt.Sprintf("User with ID %s has been successfully removed from group with ID %s.", u.id, g.id), nil
	}
	return fmt.Sprintf("User with ID %s is not a member of group with ID %s; nothing changed.", u.id, g.id), nil
}

func listGroupUsers(d *directory, a args) (string, error) {
	g, err := groupArg(d, a)
	if err != nil {
		return "", err
	}
	limit, err := a.limit()
	if err != nil {
		return "", err
	}
	after, err := a.str("after")
	if err != nil {
		return "", err
	}
	var members []*user
	for _, u := range d.sortedUsers() {
		if g.members[u.id] {
			members = append(members, u)
		}
	}
	users, next, err := page(members, after, limit)
	if err != nil {
		return "", err
	}
	if len(users) == 0 {
		return "No users found in this group.", nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Users in Group %s (ID: %s):\n", g.name, g.id)
	for i, u := range users {
		writeUser(&b, i+1, u)
	}
	writePageFooter(&b, "users", len(users), next, "Total users in group")
	return b.String(), nil
}

func groupArg(d *directory, a args) (*group, error) {
	id, err := a.required("groupId")
	if err != nil {
		return nil, err
	}
	return d.group(id)
}
