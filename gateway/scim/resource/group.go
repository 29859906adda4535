package resource

import identityv1 "github.com/acme/identity/gen/identity/v1"

// Group is the SCIM core Group.
type Group struct {
	Schemas     []string `json:"schemas"`
	ID          string   `json:"id,omitempty"`
	ExternalID  string   `json:"externalId,omitempty"`
	DisplayName string   `json:"displayName"`
	Members     []Member `json:"members,omitempty"`
	Meta        *Meta    `json:"meta,omitempty"`
}

// Member is a member of a group. Okta and Entra ID send only value (often
// without type); display, $ref and type are filled in on output.
type Member struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref,omitempty"`
	Type    string `json:"type,omitempty"`
}

// GroupFromProto maps an API group and its members onto a SCIM group.
func GroupFromProto(in *identityv1.Group, members []*identityv1.GroupMember, base string) *Group {
	out := &Group{
		Schemas:     []string{GroupSchema},
		ID:          in.GetId(),
		ExternalID:  in.GetExternalId(),
		DisplayName: in.GetDisplayName(),
		Meta:        meta("Group", base+"/Groups/"+in.GetId(), in.GetCreateTime(), in.GetUpdateTime(), in.GetVersion()),
	}
	for _, m := range members {
		display := m.GetDisplayName()
		if display == "" {
			display = m.GetUserName()
		}
		out.Members = append(out.Members, Member{Value: m.GetUserId(), Display: display, Ref: base + "/Users/" + m.GetUserId(), Type: "User"})
	}
	return out
}

// MemberIDs returns the user ids of members, each once.
func MemberIDs(members []Member) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range members {
		if !seen[m.Value] {
			seen[m.Value] = true
			out = append(out, m.Value)
		}
	}
	return out
}
