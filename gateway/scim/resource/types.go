package resource

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Schema URNs.
const (
	UserSchema       = "urn:ietf:params:scim:schemas:core:2.0:User"
	GroupSchema      = "urn:ietf:params:scim:schemas:core:2.0:Group"
	EnterpriseSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	ListSchema       = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	PatchSchema      = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	ErrorSchema      = "urn:ietf:params:scim:api:messages:2.0:Error"
	// MicrosoftGroupSchema is sent by Entra ID on group creation; it carries
	// nothing this service stores, and is accepted.
	MicrosoftGroupSchema = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"
)

// Bool is a boolean that also accepts the strings "true" and "false" in any
// case, as Entra ID sends them ("False").
type Bool bool

// UnmarshalJSON accepts true, false, "true" and "false".
func (b *Bool) UnmarshalJSON(data []byte) error {
	var v bool
	if err := json.Unmarshal(data, &v); err == nil {
		*b = Bool(v)
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		switch strings.ToLower(s) {
		case "true":
			*b = true
			return nil
		case "false":
			*b = false
			return nil
		}
	}
	return fmt.Errorf("%s is not a boolean", data)
}

// Meta is the resource metadata of RFC 7643 section 3.1.
type Meta struct {
	ResourceType string `json:"resourceType"`
	Created      string `json:"created,omitempty"`
	LastModified string `json:"lastModified,omitempty"`
	Location     string `json:"location,omitempty"`
	Version      string `json:"version,omitempty"`
}

// ETag renders a resource version as the weak entity tag of meta.version.
func ETag(version int64) string { return fmt.Sprintf(`W/"%d"`, version) }

// ParseETag reads an If-Match value; "*" and absent give 0 (no check).
func ParseETag(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s == "*" {
		return 0, true
	}
	s = strings.TrimPrefix(s, "W/")
	s = strings.Trim(s, `"`)
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || v <= 0 {
		return 0, false
	}
	return v, true
}

// ListResponse is the answer of a query (RFC 7644 section 3.4.2).
type ListResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int      `json:"totalResults"`
	ItemsPerPage int      `json:"itemsPerPage"`
	StartIndex   int64    `json:"startIndex"`
	NextCursor   string   `json:"nextCursor,omitempty"`
	Resources    []any    `json:"Resources"`
}

// Resource is what every SCIM resource carries: its meta (location, version).
type Resource interface {
	GetMeta() *Meta
}

// GetMeta returns the user's meta.
func (u *User) GetMeta() *Meta { return u.Meta }

// GetMeta returns the group's meta.
func (g *Group) GetMeta() *Meta { return g.Meta }
