package oktasim

import (
	"fmt"
	"strings"
	"time"
)

// seedTime is the seeded organisation's "now": every seeded timestamp is
// before it, and the default clock starts from it.
var seedTime = time.Date(2025, time.June, 2, 16, 0, 0, 0, time.UTC)

const (
	orgName   = "Northwind Labs"
	orgDomain = "northwind.example" // reserved by RFC 2606, so never a real mailbox
)

type seedPerson struct {
	first, last, title, dept, city string
	manager                        string // manager's "First Last"; "" for the CEO
	status                         string // "" means ACTIVE
	contractor                     bool
}

// people is Northwind Labs' staff, in hiring order. Most are active; a few
// show the other statuses an agent meets in a real org.
var people = []seedPerson{
	{first: "Maya", last: "Chen", title: "Chief Executive Officer", dept: "Executive", city: "San Francisco"},
	{first: "Daniel", last: "Okafor", title: "Chief Technology Officer", dept: "Engineering", city: "San Francisco", manager: "Maya Chen"},
	{first: "Priya", last: "Raman", title: "VP of Sales", dept: "Sales", city: "New York", manager: "Maya Chen"},
	{first: "Tom", last: "Becker", title: "Chief Financial Officer", dept: "Finance", city: "San Francisco", manager: "Maya Chen"},
	{first: "Sofia", last: "Alvarez", title: "VP of People", dept: "People", city: "Austin", manager: "Maya Chen"},
	{first: "Grace", last: "Kim", title: "VP of Marketing", dept: "Marketing", city: "New York", manager: "Maya Chen"},
	{first: "Liam", last: "O'Brien", title: "Engineering Manager", dept: "Engineering", city: "San Francisco", manager: "Daniel Okafor"},
	{first: "Aisha", last: "Mohammed", title: "Staff Software Engineer", dept: "Engineering", city: "Seattle", manager: "Liam O'Brien"},
	{first: "Ben", last: "Carter", title: "Senior Software Engineer", dept: "Engineering", city: "San Francisco", manager: "Liam O'Brien"},
	{first: "Chloe", last: "Dubois", title: "Software Engineer", dept: "Engineering", city: "Seattle", manager: "Liam O'Brien"},
	{first: "Diego", last: "Santos", title: "Software Engineer", dept: "Engineering", city: "Austin", manager: "Liam O'Brien"},
	{first: "Hana", last: "Suzuki", title: "Engineering Manager", dept: "Engineering", city: "Seattle", manager: "Daniel Okafor"},
	{first: "Ethan", last: "Wright", title: "Site Reliability Engineer", dept: "Engineering", city: "Seattle", manager: "Hana Suzuki"},
	{first: "Fatima", last: "Zahra", title: "Security Engineer", dept: "Engineering", city: "Seattle", manager: "Hana Suzuki"},
	{first: "Noah", last: "Fischer", title: "Software Engineer", dept: "Engineering", city: "Denver", manager: "Hana Suzuki", contractor: true},
	{first: "Marcus", last: "Johnson", title: "IT Manager", dept: "IT", city: "San Francisco", manager: "Daniel Okafor"},
	{first: "Ingrid", last: "Larsen", title: "Systems Administrator", dept: "IT", city: "Denver", manager: "Marcus Johnson"},
	{first: "Raj", last: "Patel", title: "IT Support Specialist", dept: "IT", city: "Austin", manager: "Marcus Johnson"},
	{first: "Emily", last: "Rossi", title: "Sales Director", dept: "Sales", city: "New York", manager: "Priya Raman"},
	{first: "Jake", last: "Morrison", title: "Account Executive", dept: "Sales", city: "Chicago", manager: "Emily Rossi"},
	{first: "Lucia", last: "Fernandez", title: "Account Executive", dept: "Sales", city: "Chicago", manager: "Emily Rossi", status: statusSuspended},
	{first: "Samuel", last: "Osei", title: "Sales Development Representative", dept: "Sales", city: "New York", manager: "Emily Rossi"},
	{first: "Kevin", last: "Nguyen", title: "Customer Success Manager", dept: "Customer Success", city: "Chicago", manager: "Priya Raman"},
	{first: "Amara", last: "Diallo", title: "Support Engineer", dept: "Customer Success", city: "Denver", manager: "Kevin Nguyen"},
	{first: "Oscar", last: "Lindqvist", title: "Support Engineer", dept: "Customer Success", city: "Chicago", manager: "Kevin Nguyen", contractor: true},
	{first: "Nina", last: "Petrova", title: "Product Marketing Manager", dept: "Marketing", city: "New York", manager: "Grace Kim"},
	{first: "Carlos", last: "Mendes", title: "Content Strategist", dept: "Marketing", city: "Austin", manager: "Grace Kim"},
	{first: "Ruby", last: "Walsh", title: "Marketing Designer", dept: "Marketing", city: "New York", manager: "Grace Kim", contractor: true, status: statusProvisioned},
	{first: "Henry", last: "Adams", title: "Controller", dept: "Finance", city: "San Francisco", manager: "Tom Becker"},
	{first: "Isabel", last: "Costa", title: "Financial Analyst", dept: "Finance", city: "San Francisco", manager: "Henry Adams"},
	{first: "Victor", last: "Huang", title: "Accountant", dept: "Finance", city: "Chicago", manager: "Henry Adams", status: statusDeprovisioned},
	{first: "Leah", last: "Goldberg", title: "HR Business Partner", dept: "People", city: "Austin", manager: "Sofia Alvarez"},
	{first: "Omar", last: "Haddad", title: "Recruiter", dept: "People", city: "Austin", manager: "Sofia Alvarez"},
	{first: "Yuki", last: "Tanaka", title: "People Operations Coordinator", dept: "People", city: "San Francisco", manager: "Sofia Alvarez"},
	{first: "Olivia", last: "Park", title: "Software Engineer", dept: "Engineering", city: "San Francisco", manager: "Liam O'Brien", status: statusStaged},
	{first: "Zoe", last: "Turner", title: "Account Executive", dept: "Sales", city: "Austin", manager: "Emily Rossi", status: statusStaged},
}

type office struct{ street, state, zip, phone string }

var offices = map[string]office{
	"San Francisco": {"100 Market Street", "CA", "94105", "+1 415 555 0100"},
	"New York":      {"200 Broad Street", "NY", "10004", "+1 212 555 0100"},
	"Austin":        {"300 Congress Avenue", "TX", "78701", "+1 512 555 0100"},
	"Seattle":       {"400 Pine Street", "WA", "98101", "+1 206 555 0100"},
	"Chicago":       {"500 Wacker Drive", "IL", "60606", "+1 312 555 0100"},
	"Denver":        {"600 Lincoln Street", "CO", "80203", "+1 303 555 0100"},
}

type deptInfo struct{ group, division, costCenter string }

var departments = map[string]deptInfo{
	"Executive":        {"Leadership", "General & Administrative", "CC-EXE-001"},
	"Engineering":      {"Engineering", "Product & Technology", "CC-ENG-100"},
	"IT":               {"IT", "Product & Technology", "CC-IT-110"},
	"Sales":            {"Sales", "Go-To-Market", "CC-SAL-200"},
	"Customer Success": {"Customer Success", "Go-To-Market", "CC-CS-210"},
	"Marketing":        {"Marketing", "Go-To-Market", "CC-MKT-220"},
	"Finance":          {"Finance", "General & Administrative", "CC-FIN-300"},
	"People":           {"People Operations", "General & Administrative", "CC-PPL-310"},
}

var seedGroups = []struct{ name, description string }{
	{"Leadership", "Executive team"},
	{"Engineering", "Software, infrastructure and security engineers"},
	{"IT", "IT administrators and support"},
	{"Sales", "Sales team"},
	{"Customer Success", "Customer success and support"},
	{"Marketing", "Marketing team"},
	{"Finance", "Finance and accounting"},
	{"People Operations", "HR, recruiting and people operations"},
	{"Managers", "Everyone with direct reports"},
	{"Contractors", "External contractors"},
}

// seedApps are the applications and the groups whose members get them; the
// Everyone group stands for all onboarded staff.
var seedApps = []struct {
	label  string
	groups []string
}{
	{"Slack", []string{"Everyone"}},
	{"Google Workspace", []string{"Everyone"}},
	{"Zoom", []string{"Everyone"}},
	{"GitHub Enterprise Cloud", []string{"Engineering", "IT"}},
	{"Jira Software", []string{"Engineering", "IT", "Customer Success"}},
	{"Confluence", []string{"Engineering", "IT", "Customer Success"}},
	{"AWS IAM Identity Center", []string{"Engineering", "IT"}},
	{"Salesforce", []string{"Sales", "Customer Success", "Leadership"}},
	{"HubSpot", []string{"Marketing", "Sales"}},
	{"Zendesk", []string{"Customer Success"}},
	{"Workday", []string{"People Operations", "Finance", "Managers"}},
	{"NetSuite ERP", []string{"Finance"}},
}

// seedDirectory builds Northwind Labs. Every value derives from the tables
// above and the person's position in them, so the result never varies.
func seedDirectory(now func() time.Time) *directory {
	d := newDirectory(now)
	add := func(name, desc, typ string, created time.Time) *group {
		g := &group{id: d.newID("00g"), seq: d.nextSeq(), typ: typ, name: name, description: desc,
			created: created, lastUpdated: created, lastMembershipUpdated: created, members: map[string]bool{}}
		d.groups[g.id] = g
		return g
	}
	founded := seedTime.AddDate(-3, 0, 0)
	byName := map[string]*group{"Everyone": add("Everyone", "All users in your organization", groupBuiltIn, founded)}
	for _, sg := range seedGroups {
		byName[sg.name] = add(sg.name, sg.description, groupOkta, founded.Add(time.Hour))
	}

	hasReports := map[string]bool{}
	for _, p := range people {
		hasReports[p.manager] = true
	}
	userByName := map[string]*user{}
	for i, p := range people {
		u := seedUser(d, i, p)
		d.users[u.id] = u
		userByName[p.first+" "+p.last] = u
		if m := userByName[p.manager]; m != nil {
			u.profile["managerId"] = m.id
		}
		byName["Everyone"].members[u.id] = true
		if u.status == statusDeprovisioned {
			continue // a leaver keeps no other group and no access
		}
		byName[departments[p.dept].group].members[u.id] = true
		if hasReports[p.first+" "+p.last] {
			byName["Managers"].members[u.id] = true
		}
		if p.contractor {
			byName["Contractors"].members[u.id] = true
		}
	}
	for _, g := range byName {
		g.lastMembershipUpdated = seedTime.Add(-24 * time.Hour)
	}

	for _, sa := range seedApps {
		a := &app{id: d.newID("0oa"), seq: d.nextSeq(), label: sa.label, users: map[string]bool{}}
		d.apps[a.id] = a
		for _, gname := range sa.groups {
			for id := range byName[gname].members {
				// Staged hires get access at onboarding; leavers lost theirs.
				if st := d.users[id].status; st != statusStaged && st != statusDeprovisioned {
					a.users[id] = true
				}
			}
		}
	}
	return d
}

func seedUser(d *directory, i int, p seedPerson) *user {
	off := offices[p.city]
	dept := departments[p.dept]
	local := strings.ToLower(strings.ReplaceAll(p.first+"."+p.last, "'", ""))
	userType, empNo := "Employee", fmt.Sprintf("E%04d", 1001+i)
	if p.contractor {
		userType, empNo = "Contractor", fmt.Sprintf("C%04d", 1001+i)
	}
	profile := map[string]string{
		"login":             local + "@" + orgDomain,
		"email":             local + "@" + orgDomain,
		"firstName":         p.first,
		"lastName":          p.last,
		"displayName":       p.first + " " + p.last,
		"title":             p.title,
		"department":        p.dept,
		"division":          dept.division,
		"organization":      orgName,
		"costCenter":        dept.costCenter,
		"employeeNumber":    empNo,
		"userType":          userType,
		"manager":           p.manager,
		"city":              p.city,
		"state":             off.state,
		"zipCode":           off.zip,
		"countryCode":       "US",
		"streetAddress":     off.street,
		"primaryPhone":      off.phone,
		"mobilePhone":       fmt.Sprintf("+1 555 01%02d", i),
		"preferredLanguage": "en",
	}
	status := p.status
	if status == "" {
		status = statusActive
	}
	// Earlier hires joined earlier: the first person about three years ago,
	// the staged ones last week.
	created := seedTime.AddDate(0, 0, -1080+30*i).Add(time.Duration(i%7) * time.Hour)
	if status == statusStaged {
		created = seedTime.AddDate(0, 0, -3-i%2)
	}
	u := &user{
		id:          d.newID("00u"),
		seq:         d.nextSeq(),
		status:      status,
		created:     created,
		lastUpdated: created,
		profile:     profile,
	}
	u.statusChanged = created
	if status != statusStaged {
		u.activated = created.Add(2 * time.Hour)
		u.statusChanged = u.activated
		u.lastUpdated = u.activated
	}
	switch status {
	case statusActive:
		u.lastLogin = seedTime.Add(-time.Duration(1+i*37%71)*time.Hour - time.Duration(i*13%60)*time.Minute)
		u.passwordChanged = u.activated.AddDate(0, 0, 90*(1+i%4))
		if u.passwordChanged.After(u.lastLogin) {
			u.passwordChanged = u.activated
		}
	case statusSuspended:
		u.lastLogin = seedTime.AddDate(0, 0, -12)
		u.statusChanged = seedTime.AddDate(0, 0, -10)
		u.passwordChanged = u.activated.AddDate(0, 0, 30)
	case statusDeprovisioned:
		u.lastLogin = seedTime.AddDate(0, 0, -47)
		u.statusChanged = seedTime.AddDate(0, 0, -45)
		u.passwordChanged = u.activated.AddDate(0, 0, 30)
	}
	if u.statusChanged.After(u.lastUpdated) {
		u.lastUpdated = u.statusChanged
	}
	return u
}
