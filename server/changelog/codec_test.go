package changelog

import (
	"testing"

	"github.com/acme/identity/ent"
)

// TestEveryEventRoundTrips encodes each event as its change row and decodes
// it back: the encoding is the one the readers of the log decode.
func TestEveryEventRoundTrips(t *testing.T) {
	const (
		tn TenantID = "t"
		u  UserID   = "u"
		g  GroupID  = "g"
		r  RoleID   = "r"
		k  KeyID    = "k"
	)
	events := []Event{
		ProjectUpdated{Project: "p"},
		TenantCreated{tn}, TenantUpdated{tn}, TenantDeleted{tn},
		UserCreated{tn, u}, UserUpdated{tn, u}, UserDeactivated{tn, u}, UserReactivated{tn, u}, UserDeleted{tn, u},
		GroupCreated{tn, g}, GroupUpdated{tn, g}, GroupDeleted{tn, g},
		RoleCreated{tn, r}, RoleUpdated{tn, r}, RoleDeleted{tn, r},
		MemberAdded{tn, g, u}, MemberRemoved{tn, g, u},
		RoleAssigned{tn, u, r}, RoleUnassigned{tn, u, r},
		RoleMapped{tn, g, r}, RoleUnmapped{tn, g, r},
		KeyCreated{k}, KeyUpdated{k}, KeyRevoked{k}, KeyDeleted{k},
		SamlConfigCreated{tn}, SamlConfigUpdated{tn}, SamlConfigDeleted{tn},
		ScimEnabled{tn}, ScimDisabled{tn}, ScimTokenRotated{tn}, TenantLimitsChanged{tn},
		ClientCreated{"c"}, ClientUpdated{"c"}, ClientSecretRotated{"c"}, ClientDeleted{"c"}, SigningKeyCreated{"s"}, SessionCreated{tn, "s", u}, TokensIssued{tn, "s", u}, SessionRevoked{tn, "s", u}, LoginFailed{tn, "c", u, "user_inactive"},
	}
	seen := map[entry]bool{}
	for _, e := range events {
		en := e.entry()
		if seen[en] {
			t.Errorf("%T encodes like another event: %+v", e, en)
		}
		seen[en] = true
		row := &ent.Change{Revision: 7, TenantID: string(en.tenant), Kind: en.kind, Operation: en.op,
			ResourceID: en.resource, UserID: string(en.user), RoleID: string(en.role), Detail: en.detail}
		got, err := Decode(row)
		if err != nil {
			t.Errorf("%T: %v", e, err)
			continue
		}
		if got.Event != e || got.Revision != 7 {
			t.Errorf("%T decoded as %#v", e, got)
		}
	}
	if _, err := Decode(&ent.Change{Kind: "user", Operation: "rotate", ResourceID: "x"}); err == nil {
		t.Error("a row no event encodes was decoded")
	}
}
