package refresh

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/meshflow/meshflow/internal/signing"
)

// ManifestHash identifies the candidate under review: approvals name it, so a
// decision cannot apply to other data than the one the steward saw. The
// approvals and the version (set on publication) are not part of it.
func ManifestHash(m Manifest) string {
	m.Approvals = nil
	m.Version = ""
	// encoding/json writes struct fields in order and sorts map keys: the same
	// manifest always hashes the same.
	b, err := json.Marshal(m) //workflowcheck:ignore
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// CheckSignOff reports whether the approvals of manifest m give every group
// its quorum, counting only decisions that meshflow serve signed (with one of
// keys) for exactly this run, product and manifest, by members who did not
// submit the run. A proven rejection by a member refuses the manifest. The
// error says which group lacks what.
func CheckSignOff(m Manifest, groups []ApprovalGroup, keys []signing.PublicKey) error {
	hash := ManifestHash(m)
	proven := map[string]bool{} // principal → approved
	for _, a := range m.Approvals {
		if a.Proof == nil || a.ManifestHash != hash || a.Principal == "" || a.Principal == m.Submitter {
			continue
		}
		st := DecisionStatement(m.WorkflowID, m.Product, a.Principal, a.Decision == Approve, a.Comment, a.ManifestHash)
		// Expiry was checked when the run took the decision; the statement
		// names this run and manifest, so it is worth nothing elsewhere.
		if signing.Verify(keys, st, *a.Proof, time.Time{}) != nil {
			continue
		}
		proven[a.Principal] = a.Decision == Approve
	}
	var missing []string
	for _, g := range groups {
		n := 0
		for _, member := range g.Members {
			approved, ok := proven[member]
			if ok && !approved {
				return fmt.Errorf("%s rejected this version (group %s)", member, g.Name)
			}
			if approved {
				n++
			}
		}
		if n < g.Quorum {
			missing = append(missing, fmt.Sprintf("%s: %d of %d proven approvals from %s", g.Name, n, g.Quorum, strings.Join(slices.Sorted(slices.Values(g.Members)), ", ")))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the version lacks its sign-off (%s)", strings.Join(missing, "; "))
	}
	return nil
}
