package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/decnet/decnet/internal/store"
)

func campRollup(n int64) CampaignRollup {
	return CampaignRollup{
		FirstSeenAt: identT0, LastSeenAt: identT0.Add(time.Hour), IdentityCount: n, ObservationCount: 2 * n,
		Fingerprints: map[string][]string{store.FPHASSH: {"h1"}}, C2Endpoints: []string{"c2.example"},
		Deckies: []string{"web1"}, Digest: fmt.Sprintf("c%d", n),
	}
}

// campIdentities creates n identities and returns their uuids.
func campIdentities(t *testing.T, s *Store, n int) []string {
	t.Helper()
	var ids []string
	changes := IdentityChanges{Now: identT0}
	for i := range n {
		id := fmt.Sprintf("ident-%02d", i)
		ids = append(ids, id)
		changes.Create = append(changes.Create, IdentityCreate{UUID: id, Rollup: identRollup(int64(i + 1))})
	}
	if err := s.ApplyIdentityChanges(context.Background(), changes); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestCampaignStore(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	ids := campIdentities(t, s, 3)

	err := s.ApplyCampaignChanges(ctx, CampaignChanges{
		Now:    identT0,
		Create: []CampaignCreate{{UUID: "camp-a", Rollup: campRollup(2)}, {UUID: "camp-b", Rollup: campRollup(1)}},
		Assign: []CampaignAssign{
			{IdentityUUID: ids[0], CampaignUUID: "camp-a"}, {IdentityUUID: ids[1], CampaignUUID: "camp-a"},
			{IdentityUUID: ids[2], CampaignUUID: "camp-b"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.GetCampaign(ctx, "camp-a")
	if err != nil {
		t.Fatal(err)
	}
	if c.SchemaVersion != 1 || c.IdentityCount != 2 || c.MergedIntoUUID != nil || len(c.HASSHHashes) != 1 || c.Confidence != nil {
		t.Errorf("campaign = %+v", c)
	}
	if _, err := s.GetCampaign(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown campaign error = %v, want not found", err)
	}

	// Merge b into a: listings drop b, b's uuid resolves to a, and a's
	// identity listing includes b's identity.
	conf := 0.5
	r := campRollup(3)
	r.Confidence = &conf
	if err := s.ApplyCampaignChanges(ctx, CampaignChanges{
		Merges:  []CampaignMerge{{UUID: "camp-b", MergedInto: "camp-a"}},
		Assign:  []CampaignAssign{{IdentityUUID: ids[2], CampaignUUID: "camp-b", Prior: "camp-a"}},
		Rollups: []CampaignRollupUpdate{{UUID: "camp-a", Rollup: r}},
	}); err != nil {
		t.Fatal(err)
	}
	list, total, err := s.ListCampaigns(ctx, store.Page{})
	if err != nil || total != 1 || len(list) != 1 || list[0].UUID != "camp-a" {
		t.Errorf("ListCampaigns = %v, %d, %v; want camp-a only", list, total, err)
	}
	if got, _ := s.GetCampaign(ctx, "camp-b"); got.UUID != "camp-a" || got.Confidence == nil || *got.Confidence != 0.5 {
		t.Errorf("GetCampaign(camp-b) = %+v, want camp-a with its new rollup", got)
	}
	members, n, err := s.ListIdentitiesForCampaign(ctx, "camp-b", store.Page{Limit: 2})
	if err != nil || n != 3 || len(members) != 2 {
		t.Errorf("ListIdentitiesForCampaign = %d items, total %d, %v; want a page of 2 of 3", len(members), n, err)
	}

	// Unmerge: b is listed again.
	if err := s.ApplyCampaignChanges(ctx, CampaignChanges{Merges: []CampaignMerge{{UUID: "camp-b"}}}); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := s.ListCampaigns(ctx, store.Page{}); total != 2 {
		t.Errorf("campaigns after unmerge = %d, want 2", total)
	}

	// The reader sees the assignment; a missing campaign is refused.
	var rows []CampaignIdentity
	if err := s.ScanIdentitiesForCampaigns(ctx, identT0.Add(-1), func(r CampaignIdentity) error {
		rows = append(rows, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rows {
		got[r.UUID] = r.CampaignID
	}
	if diff := cmp.Diff(got, map[string]string{ids[0]: "camp-a", ids[1]: "camp-a", ids[2]: "camp-b"}); diff != "" {
		t.Errorf("campaign ids (-got +want):\n%s", diff)
	}
	err = s.ApplyCampaignChanges(ctx, CampaignChanges{Assign: []CampaignAssign{{IdentityUUID: ids[0], CampaignUUID: "missing"}}})
	if err == nil {
		t.Errorf("assigning a missing campaign succeeded, want a foreign key error")
	}
	var prior *string
	if err := s.DB().QueryRowContext(ctx, `SELECT prior_campaign_id FROM attacker_identities WHERE uuid = ?`, ids[2]).Scan(&prior); err != nil || prior == nil || *prior != "camp-a" {
		t.Errorf("prior_campaign_id = %v, %v; want camp-a", prior, err)
	}
}

func TestScanLogsForCampaigns(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	identIngest(t, s, "198.51.100.1", "198.51.100.2")
	var seen []int64
	err := s.ScanLogsForCampaigns(ctx, 0, 1, func(e CampaignLogEvent) error {
		seen = append(seen, e.ID)
		return nil
	})
	if err != nil || len(seen) != 1 {
		t.Fatalf("first page = %v, %v; want one row", seen, err)
	}
	var rest []int64
	if err := s.ScanLogsForCampaigns(ctx, seen[0], 100, func(e CampaignLogEvent) error {
		rest = append(rest, e.ID)
		return nil
	}); err != nil || len(rest) != 1 || rest[0] <= seen[0] {
		t.Errorf("next page = %v, %v; want the one row after %d", rest, err, seen[0])
	}
}
